"""`python -m gateway migrate --dry-run`: lists what `migrate` would apply, in order, and
changes nothing (not even migrate's own bookkeeping schema)."""

from __future__ import annotations

import os

import asyncpg

from gateway.migrate import discover, migrate
from tests.process_helpers import outcome
from tests.test_migrate import bare_database_url

__all__ = ["bare_database_url"]  # the fixture, shared with the migrate tests


async def dry_run(url: str) -> tuple[int, str]:
    code, out, _ = await outcome(
        "migrate", "--database-url", url, "--dry-run", env=dict(os.environ)
    )
    return code, out


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
