"""`python -m gateway migrate --dry-run`: lists what `migrate` would apply, in order, and
changes nothing (not even migrate's own bookkeeping schema)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.embedded.bootstrap import apply_bootstrap
from gateway.migrate import discover, migrate
from tests.conftest import Cluster, drop_database, fresh_database
from tests.process_helpers import ROOT


@pytest.fixture
async def bare_database_url(pg_cluster: Cluster) -> AsyncIterator[str]:
    name = await fresh_database(pg_cluster, migrated=False, prefix="dry_")
    url = pg_cluster.url(name)
    await apply_bootstrap(url)
    yield url
    await drop_database(pg_cluster, name)


async def dry_run(url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "migrate",
        "--database-url",
        url,
        "--dry-run",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def schema_state(url: str) -> tuple[object, object]:
    conn = await asyncpg.connect(url)
    try:
        return (
            await conn.fetchval("select to_regclass('public.messages')"),
            await conn.fetchval("select to_regnamespace('gateway_migrations')"),
        )
    finally:
        await conn.close()


async def test_dry_run_lists_every_pending_migration_and_writes_nothing(
    bare_database_url: str,
) -> None:
    code, out = await dry_run(bare_database_url)
    names = [m.path.name for m in discover()]
    assert code == 0
    assert [line.removeprefix("would apply ") for line in out.splitlines()[:-1]] == names
    assert f"{len(names)} migration(s) pending; nothing was changed" in out
    # No table of ours, and not even migrate's own record of what it applied.
    assert await schema_state(bare_database_url) == (None, None)
    # The real run then applies exactly the list the dry run printed.
    assert await migrate(bare_database_url) == names


async def test_dry_run_on_an_up_to_date_database_lists_nothing(database_url: str) -> None:
    code, out = await dry_run(database_url)
    assert (code, out.strip()) == (0, "0 migration(s) pending; nothing was changed (dry run)")


async def test_dry_run_lists_only_what_is_missing(database_url: str) -> None:
    last = discover()[-1]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "delete from gateway_migrations.schema_migrations where version = $1", last.version
        )
    finally:
        await conn.close()
    code, out = await dry_run(database_url)
    assert (code, out.splitlines()[0]) == (0, f"would apply {last.path.name}")
