"""`doctor`'s database checks, over a PostgreSQL connection: the schema against sql/,
the Realtime publication, and row-level security on every table sql/ creates.

Migrations count as applied when `python -m gateway migrate` recorded them
(gateway_migrations.schema_migrations) or the Supabase CLI did
(supabase_migrations.schema_migrations, versions only), so both ways of deploying sql/
are understood.
"""

from __future__ import annotations

import re

import asyncpg

from gateway.cli.doctor_report import Check, failed, passed
from gateway.migrate import MigrationError, discover, recorded_versions, unapplied

__all__ = ["database_checks"]

PUBLICATION = "supabase_realtime"
PUBLISHED_TABLE = ("public", "messages")
_CREATE_TABLE = re.compile(r"create\s+table\s+(?:if\s+not\s+exists\s+)?(\w+)\.(\w+)", re.I)
_MIGRATE = "python -m gateway migrate --database-url <URL>"


async def _cli_versions(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval(
        "select to_regclass('supabase_migrations.schema_migrations') is not null"
    )
    if not exists:
        return set()
    rows = await conn.fetch("select version from supabase_migrations.schema_migrations")
    return {row["version"] for row in rows}


async def schema_check(conn: asyncpg.Connection) -> Check:
    name = "schema"
    migrations = discover()
    done = await recorded_versions(conn)
    # The Supabase CLI records no checksum: take its versions as applied as they are.
    cli = await _cli_versions(conn)
    by_cli = {m.version: m.checksum for m in migrations if m.version in cli}
    try:
        missing = unapplied(migrations, by_cli | done)
    except MigrationError as err:
        return failed(name, str(err), "add a new migration instead of editing an applied one")
    if missing:
        names = ", ".join(m.path.name for m in missing[:3]) + (", …" if len(missing) > 3 else "")
        return failed(
            name,
            f"{len(missing)} of {len(migrations)} migrations in sql/ not applied: {names}",
            f"apply them: {_MIGRATE} (or `supabase db push`)",
        )
    return passed(
        name, f"all {len(migrations)} migrations in sql/ applied (latest {migrations[-1].version})"
    )


async def publication_check(conn: asyncpg.Connection) -> Check:
    name = "publication"
    schema, table = PUBLISHED_TABLE
    if not await conn.fetchval(
        "select exists(select from pg_publication where pubname = $1)", PUBLICATION
    ):
        return failed(
            name,
            f"publication {PUBLICATION} does not exist",
            f"create publication {PUBLICATION} for table {schema}.{table}",
        )
    found = await conn.fetchval(
        "select exists(select from pg_publication_tables"
        " where pubname = $1 and schemaname = $2 and tablename = $3)",
        PUBLICATION,
        schema,
        table,
    )
    if not found:
        return failed(
            name,
            f"{PUBLICATION} does not include {schema}.{table}: Postgres Changes get no messages",
            f"alter publication {PUBLICATION} add table {schema}.{table} "
            "(Dashboard: Database → Publications)",
        )
    return passed(name, f"{PUBLICATION} includes {schema}.{table}")


def our_tables() -> list[tuple[str, str]]:
    """Every table sql/ creates, as (schema, name), in creation order."""
    found: list[tuple[str, str]] = []
    for migration in discover():
        for match in _CREATE_TABLE.finditer(migration.sql):
            found.append((match[1].lower(), match[2].lower()))
    return found


async def rls_check(conn: asyncpg.Connection) -> Check:
    name = "row-level security"
    tables = our_tables()
    rows = await conn.fetch(
        "select n.nspname as schema, c.relname as name, c.relrowsecurity as rls"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'p')"
    )
    state = {(row["schema"], row["name"]): bool(row["rls"]) for row in rows}
    off = [f"{s}.{t}" for s, t in tables if state.get((s, t)) is False]
    absent = [f"{s}.{t}" for s, t in tables if (s, t) not in state]
    if off:
        return failed(
            name,
            f"RLS is off on {', '.join(off)}: anyone with the anon key reads every row",
            "; ".join(f"alter table {t} enable row level security" for t in off),
        )
    if absent:
        return failed(name, f"missing tables: {', '.join(absent)}", f"apply sql/: {_MIGRATE}")
    return passed(name, f"enabled on all {len(tables)} tables ({', '.join(t for _, t in tables)})")


async def database_checks(database_url: str) -> list[Check]:
    try:
        conn = await asyncpg.connect(database_url, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        why = f"cannot connect to the database: {type(err).__name__}: {err}"
        fix = "check --database-url (Dashboard → Connect → Session pooler on hosted Supabase)"
        return [failed(n, why, fix) for n in ("schema", "publication", "row-level security")]
    try:
        return [await schema_check(conn), await publication_check(conn), await rls_check(conn)]
    finally:
        await conn.close()
