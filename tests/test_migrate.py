"""The migration runner: ordered, recorded, idempotent, checksum-guarded, atomic per file."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gateway.embedded.bootstrap import apply_bootstrap
from gateway.migrate import SQL_DIR, MigrationError, discover, migrate
from tests.conftest import Cluster, drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def bare_database_url(pg_cluster: Cluster) -> AsyncIterator[str]:
    """A database with only the Supabase bootstrap: no app migrations yet."""
    name = await fresh_database(pg_cluster, migrated=False, prefix="m_")
    url = pg_cluster.url(name)
    await apply_bootstrap(url)
    yield url
    await drop_database(pg_cluster, name)


async def fetch(url: str, query: str) -> list[dict[str, object]]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


def copy_sql(tmp_path: Path) -> Path:
    target = tmp_path / "sql"
    shutil.copytree(SQL_DIR, target)
    return target


async def test_applies_every_migration_in_order_and_records_it(bare_database_url: str) -> None:
    applied = await migrate(bare_database_url)
    expected = [m.path.name for m in discover()]
    assert applied == expected
    rows = await fetch(
        bare_database_url,
        "select version, checksum from gateway_migrations.schema_migrations order by version",
    )
    assert [(r["version"], r["checksum"]) for r in rows] == [
        (m.version, m.checksum) for m in discover()
    ]


async def test_running_again_applies_nothing(bare_database_url: str) -> None:
    await migrate(bare_database_url)
    assert await migrate(bare_database_url) == []


async def test_concurrent_runners_apply_each_migration_once(bare_database_url: str) -> None:
    first, second = await asyncio.gather(migrate(bare_database_url), migrate(bare_database_url))
    assert sorted(first + second) == [m.path.name for m in discover()]


async def test_a_changed_applied_migration_stops_the_run(
    bare_database_url: str, tmp_path: Path
) -> None:
    sql_dir = copy_sql(tmp_path)
    await migrate(bare_database_url, sql_dir)
    first = sorted(sql_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    (sql_dir / "29991231000000_later.sql").write_text("create table public.later (id int);")
    with pytest.raises(MigrationError, match=re.escape(first.name)):
        await migrate(bare_database_url, sql_dir)
    # Nothing after the guard ran.
    assert await fetch(bare_database_url, "select to_regclass('public.later') as t") == [
        {"t": None}
    ]


async def test_a_failing_migration_leaves_nothing_half_applied(
    bare_database_url: str, tmp_path: Path
) -> None:
    sql_dir = copy_sql(tmp_path)
    (sql_dir / "29991231000000_broken.sql").write_text(
        "create table public.half (id int);\nselect * from no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=r"29991231000000_broken\.sql"):
        await migrate(bare_database_url, sql_dir)
    rows = await fetch(
        bare_database_url,
        "select to_regclass('public.half') as t,"
        " (select count(*) from gateway_migrations.schema_migrations"
        "  where version = '29991231000000') as recorded",
    )
    assert rows == [{"t": None, "recorded": 0}]
    # The good ones before it were applied and stay applied.
    assert await fetch(bare_database_url, "select to_regclass('public.messages')::text as t") == [
        {"t": "messages"}
    ]


def test_a_badly_named_file_is_refused(tmp_path: Path) -> None:
    sql_dir = copy_sql(tmp_path)
    (sql_dir / "add_stuff.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match=r"add_stuff\.sql"):
        discover(sql_dir)


def test_every_shipped_migration_follows_the_naming_scheme() -> None:
    names = [m.path.name for m in discover()]
    assert names == sorted(names)
    assert len(names) == len(list(SQL_DIR.glob("*")))


async def test_migrate_command_applies_sql_to_any_database(bare_database_url: str) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "migrate", "--database-url", bare_database_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = await asyncio.to_thread(run)
    assert first.returncode == 0, first.stderr
    assert f"{len(discover())} migration(s) applied" in first.stdout
    second = await asyncio.to_thread(run)
    assert second.returncode == 0, second.stderr
    assert "0 migration(s) applied" in second.stdout


def test_migrate_command_reports_an_unreachable_database() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "migrate",
            "--database-url",
            "postgresql://postgres@127.0.0.1:1/postgres",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
