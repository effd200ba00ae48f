"""`sql/` as Supabase CLI migrations: `python -m ops.supabase_migrations DIR` lays the
files out as `DIR/supabase/migrations/<version>_<name>.sql`, byte for byte, and applying
that layout the way `supabase db push` does (in version order, each file's statements in
one transaction, each version recorded in `supabase_migrations.schema_migrations`) to a
database with only what Supabase provides gives the same schema as `python -m gateway
migrate`.

Followed: supabase/cli pkg/migration (file names `^([0-9]+)_(.*)\\.sql$`, the version is
the leading digits; a file's statements run as one batch; the history table
`supabase_migrations.schema_migrations (version, statements, name)`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg

from gateway.embedded.bootstrap import apply_bootstrap
from gateway.migrate import SQL_DIR
from ops.supabase_migrations import CLI_FILE_PATTERN
from tests.conftest import Cluster, drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent

# What the schema is made of, as one comparable set of lines per database.
SCHEMA = """
select 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
  from information_schema.columns where table_schema in ('public', 'chat_private')
union all
select 'policy ' || schemaname || '.' || tablename || '.' || policyname || ' ' || cmd || ' '
       || coalesce(qual, '') || ' ' || coalesce(with_check, '')
  from pg_policies where schemaname in ('public', 'realtime')
union all
select 'function ' || n.nspname || '.' || p.proname
       || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname in ('public', 'chat_private')
union all
select 'trigger ' || tgrelid::regclass || '.' || tgname from pg_trigger where not tgisinternal
union all
select 'published ' || schemaname || '.' || tablename
  from pg_publication_tables where pubname = 'supabase_realtime'
union all
select 'index ' || indexdef from pg_indexes where schemaname in ('public', 'chat_private')
union all
select 'rls ' || relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'public' and c.relrowsecurity
"""

CLI_HISTORY = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
    version text primary key, statements text[], name text
);
"""


def export(target: Path) -> list[Path]:
    """Run the script as a user would; the files it wrote, in the CLI's order."""
    subprocess.run(
        [sys.executable, "-m", "ops.supabase_migrations", str(target)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return sorted((target / "supabase" / "migrations").glob("*.sql"))


def test_the_layout_is_sql_byte_for_byte_under_names_the_cli_reads(tmp_path: Path) -> None:
    exported = export(tmp_path)
    ours = sorted(SQL_DIR.glob("*.sql"))
    assert [path.name for path in exported] == [path.name for path in ours]
    for mine, theirs in zip(ours, exported, strict=True):
        assert mine.read_bytes() == theirs.read_bytes()
        match = CLI_FILE_PATTERN.match(theirs.name)
        assert match is not None and len(match[1]) == 14  # YYYYMMDDHHMMSS, sorted in time


async def _schema(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {row[0] for row in await conn.fetch(SCHEMA)}
    finally:
        await conn.close()


async def _push(url: str, files: list[Path]) -> list[str]:
    """What `supabase db push` does with the files; the versions it recorded."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(CLI_HISTORY)
        for path in files:
            match = CLI_FILE_PATTERN.match(path.name)
            assert match is not None
            async with conn.transaction():
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, statements, name)"
                    " values ($1, $2, $3)",
                    match[1],
                    [path.read_text(encoding="utf-8")],
                    match[2],
                )
        rows = await conn.fetch("select version from supabase_migrations.schema_migrations")
        return sorted(row["version"] for row in rows)
    finally:
        await conn.close()


async def test_pushed_with_the_cli_the_schema_is_what_gateway_migrate_builds(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    files = export(tmp_path)
    pushed = await fresh_database(pg_cluster, migrated=False, prefix="cli_")
    migrated = await fresh_database(pg_cluster, migrated=True, prefix="gw_")
    try:
        await apply_bootstrap(pg_cluster.url(pushed))  # what a Supabase project provides
        versions = await _push(pg_cluster.url(pushed), files)
        assert versions == [CLI_FILE_PATTERN.match(f.name)[1] for f in files]  # type: ignore[index]
        built, expected = (
            await _schema(pg_cluster.url(pushed)),
            await _schema(pg_cluster.url(migrated)),
        )
        assert any(line.startswith("policy public.messages") for line in expected)
        assert built == expected, sorted(built ^ expected)
    finally:
        await drop_database(pg_cluster, pushed)
        await drop_database(pg_cluster, migrated)
