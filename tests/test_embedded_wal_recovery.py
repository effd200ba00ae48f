"""The WAL stream through failures: a killed walsender, a PostgreSQL restart or crash,
a lost slot, and the slots crashed runs leave behind. Nothing committed is lost or
delivered twice; destructive tests run on a PostgreSQL of their own."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from gateway.embedded.bootstrap import apply_bootstrap
from gateway.embedded.postgres import PostgresServer
from gateway.embedded.wal import slots
from gateway.embedded.wal.stream import WalStream, WalStreamError
from ops.bench.processes import free_port
from tests.wal_helpers import Feed, only_change, publish_table, running_stream, slot_names


async def connect_with_items(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await publish_table(conn, "items", "id int primary key")
    return conn


async def insert_items(url: str, ids: range) -> None:
    """One transaction per row, on a connection of its own."""
    conn = await asyncpg.connect(url)
    try:
        for i in ids:
            await conn.execute("insert into items values ($1)", i)
    finally:
        await conn.close()


async def collect_ids(feed: Feed, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        change = only_change(await feed.next(deadline=30))
        assert change.new is not None
        ids.append(int(change.new["id"] or 0))
    return ids


async def walsender_pid(conn: asyncpg.Connection, slot_name: str | None) -> int | None:
    pid: int | None = await conn.fetchval(
        "select active_pid from pg_replication_slots where slot_name = $1", slot_name
    )
    return pid


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect_with_items(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[PostgresServer]:
    """A PostgreSQL this test may stop, crash and restart."""
    server = PostgresServer(tmp_path / "pgdata", free_port())
    await asyncio.to_thread(server.start)
    try:
        await apply_bootstrap(server.url())
        conn = await connect_with_items(server.url())
        await conn.close()
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_rows_committed_while_the_walsender_is_killed_arrive_once_in_order(
    database_url: str, db: asyncpg.Connection
) -> None:
    async with running_stream(database_url) as feed:
        writer = asyncio.create_task(insert_items(database_url, range(200)))
        received: list[int] = []
        while len(received) < 200:
            received += await collect_ids(feed, 1)
            pid = await walsender_pid(db, feed.stream.slot_name)
            if len(received) % 40 == 0 and pid is not None:
                await db.execute("select pg_terminate_backend($1, 5000)", pid)
        await writer
        await feed.nothing()
    assert received == list(range(200))


async def assert_rows_survive(server: PostgresServer, interrupt: Callable[[], None]) -> None:
    """Rows committed before `interrupt` stops the server, and after it is back, all
    arrive once and in order; the consumer keeps reading (and acking) throughout."""
    url = server.url()
    async with running_stream(url) as feed:
        consumer = asyncio.create_task(collect_ids(feed, 100))
        await insert_items(url, range(50))
        await asyncio.to_thread(interrupt)
        assert not consumer.done()
        await asyncio.to_thread(server.start)
        await insert_items(url, range(50, 100))
        assert await consumer == list(range(100))
        assert feed.stream.connected


async def test_rows_committed_around_a_postgres_restart_arrive_once_in_order(
    own_server: PostgresServer,
) -> None:
    await assert_rows_survive(own_server, own_server.stop)  # fast shutdown, as pg_ctl's


async def test_rows_committed_before_a_postgres_crash_arrive_once_in_order(
    own_server: PostgresServer,
) -> None:
    def crash() -> None:
        assert own_server.pid is not None
        os.kill(own_server.pid, signal.SIGQUIT)  # immediate shutdown: crash recovery follows
        own_server.stop()  # reaps it

    await assert_rows_survive(own_server, crash)


async def test_a_consumer_that_never_acks_does_not_hold_up_a_postgres_shutdown(
    own_server: PostgresServer,
) -> None:
    url = own_server.url()
    async with running_stream(url, ack_timeout=0.5) as feed:
        await insert_items(url, range(3))
        for _ in range(3):
            await feed.next(ack=False)
        # PostgreSQL waits for its walsenders' clients to confirm; without the ack timeout
        # this would wait until PostgresServer.stop gives up (30 s) and kills it.
        await asyncio.wait_for(asyncio.to_thread(own_server.stop), 10)
        await asyncio.to_thread(own_server.start)
        await insert_items(url, range(3, 4))
        assert await collect_ids(feed, 1) == [3]


async def test_losing_the_slot_ends_the_iteration_with_an_error(
    database_url: str, db: asyncpg.Connection
) -> None:
    database = await db.fetchval("select current_database()")
    admin = await asyncpg.connect(database_url, database="postgres")
    async with running_stream(database_url) as feed:
        # Keep the reader out while its walsender goes and the slot is dropped.
        await admin.execute(f'alter database "{database}" allow_connections false')
        try:
            pid = await walsender_pid(db, feed.stream.slot_name)
            await db.execute("select pg_terminate_backend($1, 5000)", pid)
            await db.execute("select pg_drop_replication_slot($1)", feed.stream.slot_name)
        finally:
            await admin.execute(f'alter database "{database}" allow_connections true')
            await admin.close()
        with pytest.raises(WalStreamError, match="does not exist"):
            await feed.next()


async def test_start_drops_slots_left_by_crashed_runs_and_keeps_others(
    database_url: str, db: asyncpg.Connection
) -> None:
    for name in ("gateway_realtime_deadbeef0000", "other_app_slot", "gateway_realtimes_x"):
        await db.execute("select pg_create_logical_replication_slot($1, 'pgoutput')", name)

    async with running_stream(database_url) as feed:
        assert await slot_names(db) == {
            feed.stream.slot_name,
            "other_app_slot",
            "gateway_realtimes_x",
        }


async def test_an_inactive_slot_that_a_live_stream_still_owns_is_kept(
    database_url: str, db: asyncpg.Connection
) -> None:
    # A live stream between two connections: its slot is inactive but claimed.
    owner = await asyncpg.connect(database_url)
    name = "gateway_realtime_reconnecting"
    await slots.claim(owner, name)
    await db.execute("select pg_create_logical_replication_slot($1, 'pgoutput')", name)

    async with running_stream(database_url):
        assert name in await slot_names(db)
    await owner.close()  # the owner dies without dropping it
    async with running_stream(database_url):
        assert name not in await slot_names(db)


async def test_a_second_stream_starting_while_the_first_reconnects_leaves_its_slot(
    database_url: str, db: asyncpg.Connection
) -> None:
    async with running_stream(database_url) as first:
        pid = await walsender_pid(db, first.stream.slot_name)
        await db.execute("select pg_terminate_backend($1, 5000)", pid)
        async with running_stream(database_url) as second:
            await db.execute("insert into items values (1)")
            for feed in (first, second):
                assert only_change(await feed.next()).new == {"id": "1"}


def test_a_bad_slot_prefix_is_refused_up_front() -> None:
    for prefix in ("", "Upper", "has-dash", "1digit", "x" * 41):
        with pytest.raises(ValueError, match="slot_prefix"):
            WalStream("postgresql://unused", ["supabase_realtime"], slot_prefix=prefix)
