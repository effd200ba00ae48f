"""Two gateway processes' worth of apps on one Supabase: users on different gateways chat,
and both gateways agree on who is online. Gateways never talk to each other: only
through Supabase Realtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    api,
    connect,
    gateway_config,
    running_gateway,
    sign_up,
)

PRESENCE_WAIT = 20.0  # presence is batched (at most one update per 6.5 s per channel)


@pytest.fixture
async def gateways(embedded: EmbeddedStack) -> AsyncIterator[tuple[Gateway, Gateway]]:
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(running_gateway(gateway_config(embedded), embedded))
        two = await stack.enter_async_context(running_gateway(gateway_config(embedded), embedded))
        yield one, two


async def test_users_on_different_gateways_chat_and_see_each_other_online(
    gateways: tuple[Gateway, Gateway], embedded: EmbeddedStack
) -> None:
    one, two = gateways
    alice: User = await sign_up(embedded)
    bob: User = await sign_up(embedded)
    # They have talked before, so each is the other's peer.
    await api(
        one,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        json_body={"message_text": "hi bob"},
    )
    async with connect(one, f"/ws/{bob.id}", token=alice.token) as a:
        async with connect(two, f"/ws/{alice.id}", token=bob.token) as b:
            presence = await a.next("presence", timeout=PRESENCE_WAIT)
            assert presence == {"type": "presence", "user_id": bob.id, "online": True}
            await a.send({"type": "chat", "message": "across gateways"})
            sent = (await a.next("ack"))["message"]
            assert (await b.next("message"))["message"] == sent
            await b.send({"type": "chat", "message": "and back"})
            assert (await a.next("message"))["message"]["message_text"] == "and back"
            for gw in (one, two):
                _, online = await api(gw, "GET", "/api/online-users", token=alice.token)
                assert {alice.id, bob.id} <= set(online["online_users"]), gw.url
        offline = await a.next("presence", timeout=PRESENCE_WAIT)
        assert offline == {"type": "presence", "user_id": bob.id, "online": False}
    _, online = await api(two, "GET", "/api/online-users", token=bob.token)
    assert bob.id not in online["online_users"]


async def test_a_dead_gateways_users_go_offline(embedded: EmbeddedStack) -> None:
    alice, bob = await sign_up(embedded), await sign_up(embedded)
    async with running_gateway(gateway_config(embedded), embedded) as one:
        await api(
            one,
            "POST",
            f"/api/chat/{bob.id}/send",
            token=alice.token,
            json_body={"message_text": "hello"},
        )
        async with (
            connect(one, f"/ws/{bob.id}", token=alice.token) as a,
            AsyncExitStack() as clients,
        ):
            async with running_gateway(gateway_config(embedded), embedded) as two:
                await clients.enter_async_context(connect(two, f"/ws/{alice.id}", token=bob.token))
                assert (await a.next("presence", timeout=PRESENCE_WAIT))["online"] is True
            # Gateway two is gone, bob's socket with it; only Supabase told gateway one.
            offline = await a.next("presence", timeout=PRESENCE_WAIT)
            assert offline == {"type": "presence", "user_id": bob.id, "online": False}
