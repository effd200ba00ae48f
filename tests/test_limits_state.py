"""What a socket keeps, and what its frames cost: `typing`, `read` and `resume` act only
on chats the gateway knows the user is in (their chat list when they came, and chats a
message has reached them in since). Others get `chat_not_found` at once, without a Data
API call and without growing the socket's state; known chats, new ones included, work.

The Data API calls are counted by a forwarding proxy between the gateway and the
embedded stack (tests/proxy_helpers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    connect,
    gateway_config,
    rest_send,
    running_gateway,
    sign_up,
)
from tests.proxy_helpers import HISTORY_PATH, HoldingProxy, holding_proxy

CHATS_PATH = "/rest/v1/chats"  # the gateway Store's chat lookup by peer
NO_RATES = {"typing_rate": 0, "read_rate": 0, "resume_rate": 0}  # count calls, not refusals


@asynccontextmanager
async def counted(embedded: EmbeddedStack) -> AsyncIterator[tuple[Gateway, HoldingProxy]]:
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url}, limits=NO_RATES)
        async with running_gateway(config, embedded) as gw:
            yield gw, proxy


async def test_frames_about_chats_not_yours_cost_no_data_api_call(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """On main each of these frames cost a Data API call (and typing kept a per-peer
    entry on the socket for every made-up peer)."""
    carol = await sign_up(embedded)
    async with counted(embedded) as (gw, proxy):
        theirs = (await rest_send(gw, bob, carol, "between bob and carol"))["chat_id"]
        await rest_send(gw, bob, alice, "hi alice")
        async with connect(gw, "/ws", token=alice.token) as a:
            before = (proxy.requests[CHATS_PATH], proxy.requests[HISTORY_PATH])
            strangers = [str(uuid.uuid4()) for _ in range(20)]
            frames: list[dict[str, Any]] = [{"type": "typing", "to": p} for p in strangers]
            frames += [{"type": "read", "seq": 1, "to": peer} for peer in strangers[:5]]
            frames += [{"type": "resume", "peer_id": carol.id, "since_seq": 0}]
            frames += [{"type": "resume", "chat_id": theirs, "since_seq": 0}]
            frames += [
                {"type": "resume", "chat_id": str(uuid.uuid4()), "since_seq": 0} for _ in range(5)
            ]
            for frame in frames:
                await a.send(frame)
            for _ in frames:
                assert (await a.next("error"))["code"] == "chat_not_found"
            await a.nothing("message")
            assert (proxy.requests[CHATS_PATH], proxy.requests[HISTORY_PATH]) == before


async def test_a_chat_that_began_after_the_socket_is_known_to_it(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with (
        counted(embedded) as (gw, proxy),
        connect(gw, "/ws", token=alice.token) as a,
        connect(gw, "/ws", token=bob.token) as b,
    ):
        first = await rest_send(gw, bob, alice, "our first message")
        assert (await a.next("message"))["message"]["seq"] == first["seq"]
        lookups = proxy.requests[CHATS_PATH]
        await a.send({"type": "typing", "to": bob.id})
        assert (await b.next("typing"))["chat_id"] == first["chat_id"]
        await a.send({"type": "read", "seq": first["seq"], "to": bob.id})
        assert (await b.next("read"))["seq"] == first["seq"]
        await a.send({"type": "resume", "chat_id": first["chat_id"], "since_seq": 0})
        assert (await a.next("message"))["message"]["message_text"] == "our first message"
        assert proxy.requests[CHATS_PATH] == lookups  # known: no lookup either
