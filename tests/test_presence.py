"""Who is online across gateways, through presence on the private topic `online-users` of
the embedded Realtime server: two gateways, shards, rate limits, and a direct subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient

from tests.conftest import EmbeddedStack
from tests.realtime_helpers import (
    FAST,
    create_user,
    next_item,
    nothing_arrives,
    options,
    realtime_stack,
)
from tests.rest_helpers import run_sql
from tests.upstream_helpers import (
    DEADLINE,
    QUIET,
    drop_server_sockets,
    new_user_id,
    running_gateway,
)


async def test_gateways_see_each_others_users_come_and_go(embedded: EmbeddedStack) -> None:
    alice, bob = new_user_id(), new_user_id()
    async with running_gateway(embedded, "gw-a") as a, running_gateway(embedded, "gw-b") as b:
        a.presence.local_online(alice)
        await a.sees((alice, True))
        await b.sees((alice, True))
        b.presence.local_online(bob)
        await b.sees((bob, True))
        await a.sees((bob, True))
        assert a.presence.online_users() == b.presence.online_users() == {alice, bob}

        a.presence.local_offline(alice)
        await a.sees((alice, False))
        await b.sees((alice, False))
        assert not b.presence.is_online(alice)
        assert b.presence.online_users() == {bob}


async def test_local_changes_are_seen_locally_at_once(embedded: EmbeddedStack) -> None:
    carol = new_user_id()
    async with running_gateway(embedded, "gw-a") as a:
        a.presence.local_online(carol)
        assert a.presence.is_online(carol)
        assert a.changes.get_nowait() == (carol, True)
        a.presence.local_offline(carol)
        assert a.changes.get_nowait() == (carol, False)
        assert a.presence.online_users() == set()


async def test_a_user_on_two_gateways_stays_online_until_gone_from_both(
    embedded: EmbeddedStack,
) -> None:
    dave = new_user_id()
    async with running_gateway(embedded, "gw-a") as a, running_gateway(embedded, "gw-b") as b:
        a.presence.local_online(dave)
        await b.sees((dave, True))
        b.presence.local_online(dave)  # already online: no change
        a.presence.local_offline(dave)
        assert await nothing_arrives(b.changes, QUIET)
        assert a.presence.is_online(dave)  # still on gateway b
        b.presence.local_offline(dave)
        await b.sees((dave, False))
        await a.sees((dave, True), (dave, False))  # seen from b, then gone


async def test_a_stopped_gateways_users_go_offline_elsewhere(embedded: EmbeddedStack) -> None:
    erin, frank = new_user_id(), new_user_id()
    async with running_gateway(embedded, "gw-b") as b:
        async with running_gateway(embedded, "gw-a") as a:
            a.presence.local_online(erin)
            a.presence.local_online(frank)
            await b.sees((erin, True), (frank, True))
            await a.sockets.close()  # the gateway dies: its sockets close

            await b.sees((erin, False), (frank, False))
            assert b.presence.online_users() == set()


async def test_presence_recovers_after_every_realtime_socket_is_dropped(
    embedded: EmbeddedStack,
) -> None:
    alice, bob, carol = new_user_id(), new_user_id(), new_user_id()
    async with running_gateway(embedded, "gw-a") as a, running_gateway(embedded, "gw-b") as b:
        a.presence.local_online(alice)
        b.presence.local_online(bob)
        await b.sees((bob, True), (alice, True))

        assert await drop_server_sockets(embedded) == 2  # each gateway: its presence shard

        a.presence.local_online(carol)
        while await next_item(b.changes, DEADLINE) != (carol, True):
            pass  # alice may flap while gateway a's presence socket is replaced
        assert b.presence.online_users() == {alice, bob, carol}


async def test_a_burst_of_users_is_published_in_batches_under_the_rate_limit(
    database_url: str, tmp_path: Path
) -> None:
    # A tight limit: 2 presence calls per second and channel. Exceeding it would close the
    # channel, which the other gateway would see as everybody going offline.
    settings = replace(FAST, presence_max_calls=2, presence_window_seconds=1.0)
    users = [new_user_id() for _ in range(12)]
    async with realtime_stack(database_url, tmp_path, settings) as stack:
        async with (
            running_gateway(stack, "gw-b") as b,
            running_gateway(stack, "gw-a", update_interval_seconds=0.55) as a,
        ):
            for user in users[:4]:  # one at a time, each waiting for the other side
                a.presence.local_online(user)
                await b.sees((user, True))
            for user in users[4:]:  # all at once: one batched update
                a.presence.local_online(user)
            await b.sees(*((user, True) for user in users[4:]))
            assert b.presence.online_users() == set(users)
            assert await nothing_arrives(b.changes, QUIET)


class DirectSubscriber:
    """A signed-in user reading `online-users` straight from Realtime with realtime-py."""

    def __init__(self, channel: AsyncRealtimeChannel) -> None:
        self.channel = channel
        self.syncs: asyncio.Queue[None] = asyncio.Queue()
        channel.on_presence_sync(lambda: self.syncs.put_nowait(None))

    def metas(self, key: str) -> list[dict[str, Any]]:
        return [dict(meta) for meta in self.channel.presence_state().get(key, [])]

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await next_item(self.syncs, DEADLINE)


@pytest.fixture
async def direct(embedded: EmbeddedStack) -> AsyncIterator[DirectSubscriber]:
    _uid, token = await create_user(embedded)
    # Signed-in users read online-users only under delivery.presence_visibility = "everyone".
    await run_sql(embedded, "update chat_private.presence_settings set visibility = 'everyone'")
    # As supabase-py sets it up: the anon key opens the socket, the user's token the channel.
    rt = AsyncRealtimeClient(embedded.url + "/realtime/v1", embedded.anon_key)
    rt.access_token = token
    try:
        channel = rt.channel("online-users", options(private=True, key=""))
        subscriber = DirectSubscriber(channel)
        await channel.subscribe()
        yield subscriber
    finally:
        await rt.close()


async def test_a_direct_subscriber_reads_each_gateways_shards(
    embedded: EmbeddedStack, direct: DirectSubscriber
) -> None:
    users = sorted(new_user_id() for _ in range(12))

    def listed() -> list[str]:
        return sorted(u for meta in direct.metas("gateway:gw-a") for u in meta["users"])

    async with running_gateway(embedded, "gw-a", shards=3) as a:
        assert a.sockets.socket_count() == 3  # fixed at start, whatever the number of users
        for user in users:
            a.presence.local_online(user)
        await direct.until(lambda: listed() == users)
        metas = direct.metas("gateway:gw-a")
        # Every join is sent every meta; only the reading shard keeps them.
        held = a.presence.held_metas()
        assert held[0] > 0 and held[1:] == [0, 0]
        assert len({meta["shard"] for meta in metas}) == len(metas)
        assert {meta["shard"] for meta in metas} <= {0, 1, 2}
        assert all(meta["gateway_id"] == "gw-a" for meta in metas)
        assert all(meta["users"] == sorted(meta["users"]) for meta in metas)

        for user in users:
            a.presence.local_offline(user)
        await direct.until(lambda: direct.metas("gateway:gw-a") == [])
        assert a.sockets.socket_count() == 3

        a.presence.local_online(users[0])
        await direct.until(lambda: listed() == [users[0]])
