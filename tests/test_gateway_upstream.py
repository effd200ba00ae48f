"""The gateway's upstream is multiplexed: a fixed set of Realtime channels joined at start,
whatever the number of users online, and topics no user may join."""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack
from typing import Any

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import Gateway, api, connect, sign_up
from tests.realtime_helpers import create_user, options

WAIT = 10.0


async def _upstream(gw: Gateway) -> tuple[float, float]:
    status, text = await api(gw, "GET", "/metrics", token=gw.config.server.metrics_token)
    assert status == 200
    found = {
        name: float(value)
        for name, value in re.findall(r"^(gateway_upstream_\w+) (\S+)$", text, re.MULTILINE)
    }
    return found["gateway_upstream_sockets"], found["gateway_upstream_channels"]


async def test_users_coming_online_cost_no_upstream_channel(
    gateway: Gateway, embedded: EmbeddedStack
) -> None:
    first = await sign_up(embedded)
    async with connect(gateway, "/ws", token=first.token):
        one = await _upstream(gateway)
    users = [await sign_up(embedded) for _ in range(20)]
    async with AsyncExitStack() as stack:
        for user in users:
            await stack.enter_async_context(connect(gateway, "/ws", token=user.token))
        many = await _upstream(gateway)
    assert one == many
    sockets, channels = many
    assert (sockets, channels) == (1 + 4, 8 + 4)  # feed + presence shards; topics + shards


async def test_no_signed_in_user_may_join_a_gateway_topic(embedded: EmbeddedStack) -> None:
    _uid, token = await create_user(embedded)
    client = AsyncRealtimeClient(embedded.url + "/realtime/v1", embedded.anon_key)
    client.access_token = token  # as supabase-py: project key on the socket, user token on joins
    states: asyncio.Queue[Any] = asyncio.Queue()
    try:
        channel = client.channel("chats:0", options(private=True))
        await channel.subscribe(lambda state, error: states.put_nowait((state, error)))
        state, error = await asyncio.wait_for(states.get(), WAIT)
        assert state == RealtimeSubscribeStates.CHANNEL_ERROR
        assert "Unauthorized" in str(error)
    finally:
        await client.close()
