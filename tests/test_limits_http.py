"""The HTTP door over raw TCP: a connection that sends no request head, or trickles it,
is closed after `server.header_timeout_seconds`; a prompt one is served, kept alive and
upgraded as before.

Followed: Go's `http.Server.ReadHeaderTimeout` and hyper's `header_read_timeout` (the
first request's head, counted from the connection's start, then the connection is
closed without an answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import WAIT, Gateway, User, connect, gateway_config, running_gateway

HEAD_TIMEOUT = 0.5


@asynccontextmanager
async def guarded(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    config = gateway_config(embedded, server={"header_timeout_seconds": HEAD_TIMEOUT})
    async with running_gateway(config, embedded) as gw:
        yield gw


@asynccontextmanager
async def raw(gw: Gateway) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    parts = urlsplit(gw.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_a_silent_connection_is_closed_after_the_header_timeout(
    embedded: EmbeddedStack,
) -> None:
    """On main a silent connection stayed open for more than 140 s."""
    async with guarded(embedded) as gw, raw(gw) as (reader, _):
        began = time.monotonic()
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed, nothing said
        assert time.monotonic() - began >= HEAD_TIMEOUT * 0.9


async def test_a_trickled_request_head_is_cut_off(embedded: EmbeddedStack) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"a" * 500 + b"\r\n\r\n"
    async with guarded(embedded) as gw, raw(gw) as (reader, writer):
        closed = asyncio.ensure_future(reader.read())
        began = time.monotonic()
        for byte in head:  # one byte every 20 ms: the head would take ~11 s
            if closed.done():
                break
            writer.write(bytes([byte]))
            await asyncio.wait({closed}, timeout=0.02)  # the attacker's pace
        assert closed.done() and closed.result() == b""
        assert HEAD_TIMEOUT * 0.9 <= time.monotonic() - began < WAIT


async def test_prompt_requests_are_served_and_kept_alive_past_the_timeout(
    embedded: EmbeddedStack,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    async with guarded(embedded) as gw, raw(gw) as (reader, writer):
        for _ in range(2):
            writer.write(request)
            assert (await asyncio.wait_for(reader.readline(), WAIT)).startswith(b"HTTP/1.1 200")
            await asyncio.wait_for(reader.readuntil(b'{"status": "ok"}'), WAIT)
            # Idle past the head deadline: the connection stays (keep-alive governs it now).
            try:
                extra = await asyncio.wait_for(reader.read(1), HEAD_TIMEOUT * 2)
            except TimeoutError:
                extra = None
            assert extra is None


async def test_a_websocket_outlives_the_header_timeout(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with (
        guarded(embedded) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gw, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        await a.nothing("error", quiet=HEAD_TIMEOUT * 2)
        await a.send({"type": "chat", "message": "still here"})
        assert (await b.next("message"))["message"]["message_text"] == "still here"


async def test_a_trickled_rest_body_is_answered_408(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    head = (
        f"POST /api/chat/{bob.id}/send HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {alice.token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    async with guarded(embedded) as gw, raw(gw) as (reader, writer):
        writer.write(head + b'{"message_text": "')  # and the rest never comes
        status = await asyncio.wait_for(reader.readline(), WAIT)
        assert status.startswith(b"HTTP/1.1 408")
        await asyncio.wait_for(reader.readuntil(b'"request_timeout"'), WAIT)
