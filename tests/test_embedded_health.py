"""The embedded stack's /health tells the truth about Realtime's change feed: 503, naming the
failed check, when the feed has stopped or fallen further behind the database than
`embedded.change_feed_max_lag_seconds`; /metrics shows the lag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from gateway.config import EmbeddedConfig
from gateway.embedded.appkeys import feed_key
from tests.postgres_changes_helpers import TODOS, execute, realtime, subscriber
from tests.realtime_helpers import DEADLINE, FAST, RealtimeStack, next_item, realtime_stack

MAX_LAG = 0.5


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    config = EmbeddedConfig(change_feed_max_lag_seconds=MAX_LAG)
    async with realtime_stack(database_url, tmp_path, FAST, config) as s:
        await execute(s, TODOS)
        yield s


async def get(stack: RealtimeStack, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(stack.url + path) as resp:
        body = await resp.json() if path == "/health" else await resp.text()
        return resp.status, body


async def health_until(stack: RealtimeStack, status: int) -> Any:
    """Ask /health until it answers `status` (each answer is a fresh measurement)."""

    async def ask() -> Any:
        while True:
            answer, body = await get(stack, "/health")
            if answer == status:
                return body

    return await asyncio.wait_for(ask(), DEADLINE)


def metric(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_health_reports_the_change_feed_and_how_far_behind_it_is(
    stack: RealtimeStack,
) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(rt, "todos", {"table": "todos"})
        await execute(stack, "insert into todos (id, title) values (1, 'one')")
        await next_item(sub.events)

        status, body = await get(stack, "/health")
        assert status == 200
        assert body["status"] == "ok"
        assert body["checks"] == {"change_feed": True, "change_feed_lag": True}
        feed = body["change_feed"]
        assert feed["lag_seconds"] == 0 and feed["max_lag_seconds"] == MAX_LAG
        assert isinstance(feed["lag_bytes"], int) and feed["lag_bytes"] >= 0

        status, text = await get(stack, "/metrics")
        assert status == 200
        assert metric(text, "embedded_realtime_change_feed_lag_seconds") == 0
        assert metric(text, "embedded_realtime_change_feed_lag_bytes") >= 0
        assert metric(text, "embedded_realtime_dispatch_lag_seconds_count") >= 1


async def test_a_change_feed_behind_the_database_makes_health_503_until_it_catches_up(
    stack: RealtimeStack,
) -> None:
    pool = stack.context.pool
    async with realtime(stack) as rt:
        sub = await subscriber(rt, "todos", {"table": "todos"})
        held = [await pool.acquire() for _ in range(pool.get_max_size())]  # a saturated database
        try:
            await execute(stack, "insert into todos (id, title) values (1, 'stuck')")
            body = await health_until(stack, 503)
            assert body["status"] == "unavailable"
            assert body["checks"] == {"change_feed": True, "change_feed_lag": False}
            assert body["change_feed"]["lag_seconds"] > MAX_LAG
            assert body["change_feed"]["lag_bytes"] is None  # no connection to measure it
            _, text = await get(stack, "/metrics")
            assert metric(text, "embedded_realtime_change_feed_lag_seconds") > MAX_LAG
        finally:
            for conn in held:
                await pool.release(conn)
        assert (await next_item(sub.events))["data"]["record"]["title"] == "stuck"
        status, body = await get(stack, "/health")
        assert (status, body["checks"]["change_feed_lag"]) == (200, True)


async def test_a_change_feed_that_has_stopped_makes_health_503(stack: RealtimeStack) -> None:
    """The slot is lost (dropped while its walsender was away): the feed cannot go on."""
    conn = await asyncpg.connect(stack.database_url)
    admin = await asyncpg.connect(stack.database_url, database="postgres")
    database = await conn.fetchval("select current_database()")
    try:
        await admin.execute(f'alter database "{database}" allow_connections false')
        try:
            slot, pid = await conn.fetchrow(
                "select slot_name, active_pid from pg_replication_slots"
                " where database = current_database()"
            )
            await conn.execute("select pg_terminate_backend($1, 5000)", pid)
            await conn.execute("select pg_drop_replication_slot($1)", slot)
        finally:
            await admin.execute(f'alter database "{database}" allow_connections true')
    finally:
        await admin.close()
        await conn.close()
    consumer = stack.app[feed_key].consumer
    assert consumer is not None
    await asyncio.wait_for(asyncio.shield(consumer), DEADLINE)

    status, body = await get(stack, "/health")
    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"] == {"change_feed": False, "change_feed_lag": True}
