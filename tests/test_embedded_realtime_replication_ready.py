"""`config.broadcast.replication_ready`: a channel that asks is told once the replication
connection behind Realtime (the embedded change feed's WAL stream) is up.

Followed: supabase/realtime lib/realtime_web/channels/realtime_channel.ex (the join sends
itself `:notify_replication_ready` when `config.broadcast.replication_ready` is truthy; the
handler pushes `system` `{"extension": "system", "status": "ok", "message": "Replication
connection established", "channel": <sub-topic>}` once `Connect.replication_status` is ok,
re-checks every 500 ms, pushes it at most once, and after `replication_ready_timeout` (one
minute, config/config.exs) shuts the channel down with "Replication connection was not
established in time"), and its test realtime_channel_replication_ready_test.exs (no opt-in,
no `system` message).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from realtime import RealtimeChannelOptions
from realtime.types import RealtimeChannelBroadcastConfig

from tests.realtime_helpers import (
    DEADLINE,
    FAST,
    RealtimeStack,
    client,
    collect,
    join_payload,
    next_item,
    nothing_arrives,
    raw_socket,
    realtime_stack,
    v1,
)

READY = {
    "extension": "system",
    "status": "ok",
    "message": "Replication connection established",
    "channel": "room1",
}
OPT_IN: RealtimeChannelBroadcastConfig = {"ack": False, "self": False, "replication_ready": True}


def ready_frame(channel: str = "room1", join_ref: str = "1") -> dict[str, Any]:
    return {
        "topic": f"realtime:{channel}",
        "event": "system",
        "payload": {**READY, "channel": channel},
        "ref": None,
        "join_ref": join_ref,
    }


async def test_a_channel_that_asks_gets_the_ready_message_right_after_its_join_reply(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url(vsn="1.0.0")) as sock:
        await sock.send(v1("realtime:room1", "phx_join", join_payload(broadcast=OPT_IN), "1", "1"))
        reply = await sock.recv()
        assert (reply["event"], reply["payload"]["status"]) == ("phx_reply", "ok")
        system = await sock.recv()
        system.pop("join_ref", None)  # vsn 1.0.0 frames carry no join_ref
        assert system == {k: v for k, v in ready_frame().items() if k != "join_ref"}
        assert await sock.silent()  # at most once


async def test_realtime_py_sees_the_ready_message_and_nothing_without_the_option(
    stack: RealtimeStack,
) -> None:
    rt = client(stack)
    try:
        options: RealtimeChannelOptions = {
            "config": {"broadcast": OPT_IN, "presence": None, "private": False}
        }
        asked = rt.channel("room1", options)
        asked_system: asyncio.Queue[Any] = asyncio.Queue()
        asked.on_system(collect(asked_system))
        plain = rt.channel("room2")
        plain_system: asyncio.Queue[Any] = asyncio.Queue()
        plain.on_system(collect(plain_system))
        await asked.subscribe()
        await plain.subscribe()
        message = await next_item(asked_system)
        assert dict(message) == READY
        assert await nothing_arrives(plain_system)
    finally:
        await rt.close()


async def _feed_down(stack: RealtimeStack) -> None:
    """Returns once /health says the feed is down (the reader notices within its poll)."""
    while True:
        async with aiohttp.ClientSession() as http, http.get(stack.url + "/health") as resp:
            if not (await resp.json())["checks"]["change_feed"]:
                return


@asynccontextmanager
async def feed_cut_off(stack: RealtimeStack) -> AsyncIterator[asyncpg.Connection]:
    """The change feed's replication connection is dropped and cannot come back until the
    block ends (the database refuses new connections meanwhile)."""
    conn = await asyncpg.connect(stack.database_url)
    admin = await asyncpg.connect(stack.database_url, database="postgres")
    database = await conn.fetchval("select current_database()")
    await admin.execute(f'alter database "{database}" allow_connections false')
    try:
        pid = await conn.fetchval(
            "select active_pid from pg_replication_slots where database = current_database()"
        )
        await conn.execute("select pg_terminate_backend($1, 5000)", pid)
        await asyncio.wait_for(_feed_down(stack), DEADLINE)
        yield conn
    finally:
        await admin.execute(f'alter database "{database}" allow_connections true')
        await admin.close()
        await conn.close()


async def test_the_message_waits_for_the_replication_connection_to_come_back(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url(vsn="1.0.0")) as sock:
        async with feed_cut_off(stack):
            await sock.send(
                v1("realtime:room1", "phx_join", join_payload(broadcast=OPT_IN), "1", "1")
            )
            assert (await sock.recv())["payload"]["status"] == "ok"
            assert await sock.silent()
        system = await sock.recv(DEADLINE)
        assert (system["event"], system["payload"]) == ("system", READY)


@pytest.fixture
async def impatient_stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    settings = dataclasses.replace(FAST, replication_ready_timeout_seconds=0.3)
    async with realtime_stack(database_url, tmp_path, settings) as s:
        yield s


async def test_a_channel_whose_replication_never_comes_up_is_shut_down(
    impatient_stack: RealtimeStack,
) -> None:
    stack = impatient_stack
    async with raw_socket(stack.ws_url(vsn="1.0.0")) as sock, feed_cut_off(stack):
        await sock.send(v1("realtime:room1", "phx_join", join_payload(broadcast=OPT_IN), "1", "1"))
        assert (await sock.recv())["payload"]["status"] == "ok"
        system = await sock.recv(DEADLINE)
        assert (system["event"], system["payload"]) == (
            "system",
            {
                "extension": "system",
                "status": "error",
                "message": "Replication connection was not established in time",
                "channel": "room1",
            },
        )
        closed = await sock.recv()
        assert (closed["topic"], closed["event"]) == ("realtime:room1", "phx_close")
