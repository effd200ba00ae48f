"""Helpers for the feed and presence tests: a Feed wired to queues, database messages to
a topic, and ways to break the Realtime server's side of a socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiohttp import WSCloseCode

from gateway.embedded.realtime import hub_key
from gateway.supabase.data_api import DataApi, data_api_pool
from gateway.supabase.feed import Feed
from gateway.supabase.online import OnlineUsers
from gateway.supabase.sockets import RealtimeSockets
from gateway.supabase.store import ServiceReads, Store
from tests.conftest import EmbeddedStack
from tests.realtime_helpers import next_item

DEADLINE = 10.0  # seconds for something that must arrive (reconnects included)
QUIET = 0.5  # seconds of silence that show something did not arrive
PROBE_INTERVAL, PROBE_TIMEOUT = 0.2, 0.5  # seconds: a silent socket is replaced within ~1 s


class Recorder:
    """What a Feed hands to the delivery core, as queues."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.states: asyncio.Queue[str] = asyncio.Queue()  # "live" / "down"
        self.checks: asyncio.Queue[None] = asyncio.Queue()  # position checks asked for

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.put_nowait((event, payload))

    def on_live(self) -> None:
        self.states.put_nowait("live")

    def on_down(self) -> None:
        self.states.put_nowait("down")

    def lost(self) -> None:
        self.checks.put_nowait(None)


class _Listener:
    """A FeedListener whose on_event may be replaced (a failing handler, say)."""

    def __init__(
        self, recorder: Recorder, on_event: Callable[[str, dict[str, Any]], None] | None
    ) -> None:
        self.on_event = on_event or recorder.on_event
        self.on_live, self.on_down = recorder.on_live, recorder.on_down


def realtime_sockets(
    stack: EmbeddedStack, *, gateway_id: str | None = None, realtime_url: str | None = None
) -> RealtimeSockets:
    return RealtimeSockets(
        realtime_url or stack.url + "/realtime/v1",
        stack.service_key,
        gateway_id=gateway_id or "gw-" + uuid.uuid4().hex[:8],
        max_joins_per_second=100.0,
        probe_interval_seconds=PROBE_INTERVAL,
        probe_timeout_seconds=PROBE_TIMEOUT,
    )


@asynccontextmanager
async def running_feed(
    stack: EmbeddedStack,
    recorder: Recorder,
    *,
    realtime_url: str | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> AsyncIterator[Feed]:
    """A started Feed on the stack (or `realtime_url`) with fast probes; the topics come
    from the stack's database through its Data API, as service_role."""
    sockets = realtime_sockets(stack, realtime_url=realtime_url)
    http = data_api_pool(stack.url + "/rest/v1")
    store = Store(DataApi(stack.url + "/rest/v1", stack.anon_key, http))
    feed = Feed(
        sockets,
        ServiceReads(store, stack.service_key),
        _Listener(recorder, on_event),
        recorder.lost,
    )
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()
        await sockets.close()
        await http.close()


async def chat_topic(stack: EmbeddedStack, chat_id: str) -> str:
    """The gateway topic the database publishes a chat's events on."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        topic: str = await conn.fetchval("select chat_private.delivery_topic($1)", chat_id)
        return topic
    finally:
        await conn.close()


async def publish(
    stack: EmbeddedStack, topic: str, payload: dict[str, Any], event: str = "message"
) -> None:
    """What the chat triggers do: realtime.send to a private topic."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "select realtime.send($1::jsonb, $2, $3, true)", json.dumps(payload), event, topic
        )
    finally:
        await conn.close()


def new_user_id() -> str:
    return str(uuid.uuid4())


async def events_until(
    queue: asyncio.Queue[tuple[str, dict[str, Any]]], count: int
) -> list[tuple[str, dict[str, Any]]]:
    return [await next_item(queue, DEADLINE) for _ in range(count)]


async def drop_server_sockets(stack: EmbeddedStack) -> int:
    """Close every Realtime socket from the server's side, as a restart or a network cut does."""
    connections = list(stack.app[hub_key].connections)
    for conn in connections:
        await conn.close(WSCloseCode.INTERNAL_ERROR, b"test: server side closed")
    return len(connections)


def silence_server_sockets(stack: EmbeddedStack) -> int:
    """Make the server drop everything it would send on the current sockets while keeping
    them open: a half-open connection that only a probe can notice."""
    connections = list(stack.app[hub_key].connections)
    for conn in connections:
        conn.closing = True
    return len(connections)


class Gateway:
    """One gateway's presence part: its sockets, its OnlineUsers, and changes as a queue."""

    def __init__(self, sockets: RealtimeSockets, presence: OnlineUsers) -> None:
        self.sockets = sockets
        self.presence = presence
        self.changes: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        presence.listen(lambda user, online: self.changes.put_nowait((user, online)))

    async def sees(self, *expected: tuple[str, bool]) -> None:
        """The next changes heard are exactly these, in any order."""
        got = [await next_item(self.changes, DEADLINE) for _ in expected]
        assert sorted(got) == sorted(expected)


@asynccontextmanager
async def running_gateway(
    stack: EmbeddedStack, gateway_id: str, *, shards: int = 1, **presence_options: Any
) -> AsyncIterator[Gateway]:
    sockets = realtime_sockets(stack, gateway_id=gateway_id)
    presence = OnlineUsers(
        sockets, shards=shards, **{"update_interval_seconds": 0.3, **presence_options}
    )
    gateway = Gateway(sockets, presence)
    await presence.start()
    try:
        yield gateway
    finally:
        await presence.close()
        await sockets.close()
