"""Socket admission through real handshakes: sockets per user, per client address and per
gateway, and handshakes per address per second.

Followed: Supabase Realtime refuses an upgrade over its connection quota with 429 ("Too
many connected users", lib/realtime_web/socket); Centrifugo's `client.user_connection_limit`,
`client.connection_limit` and `client.connection_rate_limit` (503 beyond) — here a full
gateway answers 503 and a crowded address or a too-fast one 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    WAIT,
    Gateway,
    User,
    connect,
    gateway_config,
    running_gateway,
    sign_up,
)

SLOW = 0.01  # tokens per second


@asynccontextmanager
async def admitting(embedded: EmbeddedStack, **limits: Any) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_config(embedded, limits=limits), embedded) as gw:
        yield gw


async def refused_upgrade(gw: Gateway, token: str) -> aiohttp.WSServerHandshakeError:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(gw.ws_url + "/ws", params={"token": token})
    return refused.value


async def test_a_user_over_the_socket_limit_is_closed_with_4029(
    embedded: EmbeddedStack, alice: User
) -> None:
    async with admitting(embedded, ws_sockets_per_user=2) as gw, AsyncExitStack() as stack:
        first = await stack.enter_async_context(connect(gw, "/ws", token=alice.token))
        await stack.enter_async_context(connect(gw, "/ws", token=alice.token))
        for how in ("query", "auth frame"):
            if how == "query":
                ctx = connect(gw, "/ws", token=alice.token, live=False)
            else:
                ctx = connect(gw, "/ws", live=False)
            async with ctx as third:
                if how == "auth frame":
                    await third.send({"type": "auth", "token": alice.token})
                error = await third.next("error")
                assert (error["code"], error["message"]) == (
                    "too_many_connections",
                    "at most 2 sockets per user",
                )
                assert await third.wait_closed() == 4029
        await first.close()
        assert await reconnects(gw, alice.token)  # a closed socket frees its place


async def reconnects(gw: Gateway, token: str) -> bool:
    """Connect until the gateway has noticed a socket went (its close is asynchronous)."""

    async def attempt() -> bool:
        while True:
            async with connect(gw, "/ws", token=token, live=False) as c:
                frame = await c.next()
                if frame["type"] == "ready":
                    return True
                assert frame["code"] == "too_many_connections"

    return await asyncio.wait_for(attempt(), WAIT)


async def test_an_address_over_its_socket_limit_is_refused_before_the_upgrade(
    embedded: EmbeddedStack,
) -> None:
    users = [await sign_up(embedded) for _ in range(3)]
    async with admitting(embedded, ws_sockets_per_address=2) as gw, AsyncExitStack() as stack:
        for user in users[:2]:
            await stack.enter_async_context(connect(gw, "/ws", token=user.token))
        refused = await refused_upgrade(gw, users[2].token)
        assert refused.status == 429


async def test_a_full_gateway_answers_503(embedded: EmbeddedStack) -> None:
    users = [await sign_up(embedded) for _ in range(2)]
    async with admitting(embedded, ws_sockets_max=1) as gw, AsyncExitStack() as stack:
        await stack.enter_async_context(connect(gw, "/ws", token=users[0].token))
        assert (await refused_upgrade(gw, users[1].token)).status == 503


async def test_handshakes_per_address_are_rate_limited_with_retry_after(
    embedded: EmbeddedStack, alice: User
) -> None:
    async with admitting(embedded, ws_handshake_rate=SLOW, ws_handshake_burst=3) as gw:
        for _ in range(3):
            async with connect(gw, "/ws", token=alice.token):
                pass
        refused = await refused_upgrade(gw, alice.token)
        assert refused.status == 429
        assert refused.headers is not None and int(refused.headers["Retry-After"]) >= 1


async def test_one_user_cannot_open_hundreds_of_sockets_with_the_defaults(
    gateway: Gateway, alice: User
) -> None:
    """On main one user opened 300 sockets in 0.3 s (and each got every message)."""
    outcomes: asyncio.Queue[str] = asyncio.Queue()
    done = asyncio.Event()

    async def one() -> None:
        try:
            async with connect(gateway, "/ws", token=alice.token, live=False) as c:
                frame = await c.next()
                await outcomes.put(frame["type"] if frame["type"] == "ready" else frame["code"])
                await done.wait()  # hold the socket while the others try
        except aiohttp.WSServerHandshakeError as err:
            await outcomes.put(f"HTTP {err.status}")

    tasks = [asyncio.create_task(one()) for _ in range(60)]
    seen = [await asyncio.wait_for(outcomes.get(), WAIT) for _ in range(60)]
    done.set()
    await asyncio.gather(*tasks)
    assert seen.count("ready") == 20  # limits.ws_sockets_per_user
    # The rest were closed (4029) or, past the handshake burst, refused before the upgrade.
    assert "too_many_connections" in seen
    assert set(seen) <= {"ready", "too_many_connections", "HTTP 429"}
