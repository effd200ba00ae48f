"""Helpers for the upstream and presence tests: an Upstream wired to queues, database
messages to a user's topic, and ways to break the Realtime server's side of a socket."""

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
from gateway.presence import Presence
from gateway.upstream import Upstream
from tests.conftest import EmbeddedStack
from tests.realtime_helpers import next_item

DEADLINE = 10.0  # seconds for something that must arrive (reconnects included)
QUIET = 0.5  # seconds of silence that show something did not arrive
PROBE_INTERVAL, PROBE_TIMEOUT = 0.2, 0.5  # seconds: a silent socket is replaced within ~1 s


class Recorder:
    """What an Upstream hands to the hub, as queues."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
        self.resubscribed: asyncio.Queue[str] = asyncio.Queue()

    def on_event(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        self.events.put_nowait((user_id, event, payload))

    async def on_resubscribed(self, user_id: str) -> None:
        self.resubscribed.put_nowait(user_id)


@asynccontextmanager
async def running_upstream(
    stack: EmbeddedStack,
    recorder: Recorder,
    *,
    gateway_id: str | None = None,
    realtime_url: str | None = None,
    on_event: Callable[[str, str, dict[str, Any]], None] | None = None,
    channels_per_socket: int = 99,
) -> AsyncIterator[Upstream]:
    """A started Upstream on the stack (or `realtime_url`) with fast probes."""
    upstream = Upstream(
        realtime_url or stack.url + "/realtime/v1",
        stack.service_key,
        on_event=on_event or recorder.on_event,
        on_resubscribed=recorder.on_resubscribed,
        gateway_id=gateway_id or "gw-" + uuid.uuid4().hex[:8],
        channels_per_socket=channels_per_socket,
        probe_interval_seconds=PROBE_INTERVAL,
        probe_timeout_seconds=PROBE_TIMEOUT,
    )
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.close()


def new_user_id() -> str:
    return str(uuid.uuid4())


async def send_to_user(
    stack: EmbeddedStack, user_id: str, payload: dict[str, Any], event: str = "message"
) -> None:
    """What the chat triggers do: realtime.send to the private topic user:<id>."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "select realtime.send($1::jsonb, $2, $3, true)",
            json.dumps(payload),
            event,
            f"user:{user_id}",
        )
    finally:
        await conn.close()


async def events_until(
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]], count: int
) -> list[tuple[str, str, dict[str, Any]]]:
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
    """One gateway's presence part: its Upstream, its Presence, and on_change as a queue."""

    def __init__(self, upstream: Upstream, presence: Presence) -> None:
        self.upstream = upstream
        self.presence = presence
        self.changes: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

    async def sees(self, *expected: tuple[str, bool]) -> None:
        """The next on_change calls are exactly these, in any order."""
        got = [await next_item(self.changes, DEADLINE) for _ in expected]
        assert sorted(got) == sorted(expected)


@asynccontextmanager
async def running_gateway(
    stack: EmbeddedStack, gateway_id: str, **presence_options: Any
) -> AsyncIterator[Gateway]:
    async with running_upstream(stack, Recorder(), gateway_id=gateway_id) as upstream:
        gateway: Gateway | None = None

        def on_change(user_id: str, online: bool) -> None:
            assert gateway is not None
            gateway.changes.put_nowait((user_id, online))

        presence = Presence(
            upstream,
            gateway_id=gateway_id,
            on_change=on_change,
            **{"update_interval_seconds": 0.3, **presence_options},
        )
        gateway = Gateway(upstream, presence)
        await presence.start()
        try:
            yield gateway
        finally:
            await presence.close()
