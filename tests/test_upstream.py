"""The gateway's supervised Realtime link, against the embedded server over real sockets:
user topics, socket pools, recovery from dead or silent sockets, and typing over REST."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from realtime import AsyncRealtimeClient

from gateway.embedded.realtime import hub_key
from gateway.embedded.server import create_embedded_app
from gateway.errors import GatewayError
from tests.conftest import EmbeddedStack
from tests.realtime_helpers import (
    FAST,
    collect,
    next_item,
    nothing_arrives,
    options,
    realtime_stack,
)
from tests.upstream_helpers import (
    DEADLINE,
    QUIET,
    Recorder,
    drop_server_sockets,
    events_until,
    new_user_id,
    running_upstream,
    send_to_user,
    silence_server_sockets,
)


async def test_a_message_sent_to_a_subscribed_users_topic_reaches_on_event(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder) as upstream:
        user = new_user_id()
        await upstream.subscribe(user)

        await send_to_user(embedded, user, {"x": 1})

        got_user, event, payload = await next_item(recorder.events, DEADLINE)
        assert (got_user, event, payload["x"]) == (user, "message", 1)
        assert upstream.channel_count() == 1


async def test_after_unsubscribe_nothing_arrives_for_that_user(embedded: EmbeddedStack) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder) as upstream:
        gone, staying = new_user_id(), new_user_id()
        await upstream.subscribe(gone)
        await upstream.subscribe(staying)

        await upstream.unsubscribe(gone)
        await send_to_user(embedded, gone, {"n": 1})
        await send_to_user(embedded, staying, {"n": 2})

        assert (await next_item(recorder.events, DEADLINE))[0] == staying
        assert await nothing_arrives(recorder.events, QUIET)


async def test_the_latest_wish_wins_when_subscribe_and_unsubscribe_race(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder) as upstream:
        wanted, unwanted = new_user_id(), new_user_id()
        # gather starts its tasks in order: each call takes effect before the next one runs.
        await asyncio.gather(
            upstream.subscribe(wanted),
            upstream.subscribe(unwanted),
            upstream.unsubscribe(wanted),
            upstream.unsubscribe(unwanted),
            upstream.subscribe(wanted),
        )

        await send_to_user(embedded, unwanted, {"n": 0})
        await send_to_user(embedded, wanted, {"n": 1})

        assert (await next_item(recorder.events, DEADLINE))[0] == wanted
        assert await nothing_arrives(recorder.events, QUIET)
        assert upstream.channel_count() == 1

        # Leaving and joining again right away: a fresh subscription, not a resubscription.
        await asyncio.gather(upstream.unsubscribe(wanted), upstream.subscribe(wanted))
        await send_to_user(embedded, wanted, {"n": 2})
        assert (await next_item(recorder.events, DEADLINE))[2]["n"] == 2
        assert recorder.resubscribed.empty()


async def test_users_beyond_one_socket_spread_over_several_and_all_receive(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder, channels_per_socket=3) as upstream:
        users = [new_user_id() for _ in range(7)]
        await asyncio.gather(*(upstream.subscribe(user) for user in users))
        assert upstream.socket_count() == 3
        assert upstream.channel_count() == 7
        assert upstream.healthy

        for user in users:
            await send_to_user(embedded, user, {"to": user})
        events = await events_until(recorder.events, len(users))
        assert sorted(user for user, _, _ in events) == sorted(users)
        assert all(payload["to"] == user for user, _, payload in events)

        for user in users[1:]:
            await upstream.unsubscribe(user)
        assert upstream.socket_count() == 1  # empty sockets are closed
        await send_to_user(embedded, users[0], {"still": True})
        assert (await next_item(recorder.events, DEADLINE))[0] == users[0]


async def test_a_socket_closed_by_the_server_is_replaced_and_users_resubscribed(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder, channels_per_socket=2) as upstream:
        users = [new_user_id() for _ in range(3)]
        await asyncio.gather(*(upstream.subscribe(user) for user in users))

        assert await drop_server_sockets(embedded) == 2

        resubscribed = {await next_item(recorder.resubscribed, DEADLINE) for _ in users}
        assert resubscribed == set(users)
        assert upstream.healthy
        for user in users:
            await send_to_user(embedded, user, {"after": "restart"})
        events = await events_until(recorder.events, len(users))
        assert {user for user, _, _ in events} == set(users)


async def test_a_silent_half_open_socket_is_found_by_the_probe_and_replaced(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder) as upstream:
        user = new_user_id()
        await upstream.subscribe(user)

        assert silence_server_sockets(embedded) == 1

        assert await next_item(recorder.resubscribed, DEADLINE) == user
        await send_to_user(embedded, user, {"after": "silence"})
        assert (await next_item(recorder.events, DEADLINE))[2]["after"] == "silence"


async def test_a_channel_closed_by_the_server_is_joined_again(embedded: EmbeddedStack) -> None:
    recorder = Recorder()
    async with running_upstream(embedded, recorder) as upstream:
        user = new_user_id()
        await upstream.subscribe(user)
        hub = embedded.app[hub_key]
        (server_channel,) = [c for c in hub.channels() if c.topic == f"realtime:user:{user}"]

        server_channel.shutdown("test: channel ended by the server")

        assert await next_item(recorder.resubscribed, DEADLINE) == user
        await send_to_user(embedded, user, {"after": "close"})
        assert (await next_item(recorder.events, DEADLINE))[2]["after"] == "close"


async def test_a_refused_join_is_retried_without_disturbing_the_sockets_other_users(
    database_url: str, tmp_path: Path
) -> None:
    # The server allows 3 channels per socket: the control channel and two users.
    settings = replace(FAST, max_channels_per_client=3)
    recorder = Recorder()
    async with (
        realtime_stack(database_url, tmp_path, settings) as stack,
        running_upstream(stack, recorder, channels_per_socket=3) as upstream,
    ):
        first, second, third = new_user_id(), new_user_id(), new_user_id()
        await upstream.subscribe(first)
        await upstream.subscribe(second)
        refused = asyncio.create_task(upstream.subscribe(third))
        await send_to_user(stack, third, {"n": 0})
        assert await nothing_arrives(recorder.events, QUIET)  # refused: "Too many channels"

        await upstream.unsubscribe(first)  # frees a slot; the retry gets in
        await refused
        await send_to_user(stack, second, {"n": 2})
        await send_to_user(stack, third, {"n": 3})
        events = await events_until(recorder.events, 2)
        assert sorted(payload["n"] for _, _, payload in events) == [2, 3]
        assert recorder.resubscribed.empty()  # the socket itself never went down


async def test_a_failing_event_handler_does_not_stop_later_deliveries(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()

    def explosive(user_id: str, event: str, payload: dict[str, Any]) -> None:
        if payload.get("explode"):
            raise RuntimeError("handler bug")
        recorder.on_event(user_id, event, payload)

    async with running_upstream(embedded, recorder, on_event=explosive) as upstream:
        user = new_user_id()
        await upstream.subscribe(user)
        await send_to_user(embedded, user, {"explode": True})
        await send_to_user(embedded, user, {"n": 2})
        assert (await next_item(recorder.events, DEADLINE))[2]["n"] == 2
        assert await nothing_arrives(recorder.resubscribed, QUIET)  # the socket stayed up


async def test_notify_reaches_a_private_subscriber_of_the_peers_topic(
    embedded: EmbeddedStack,
) -> None:
    peer = new_user_id()
    listener = AsyncRealtimeClient(embedded.url + "/realtime/v1", embedded.service_key)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    try:
        channel = listener.channel(f"user:{peer}", options(private=True))
        await channel.on_broadcast("typing", collect(heard)).subscribe()
        async with running_upstream(embedded, Recorder()) as upstream:
            await upstream.notify(peer, "typing", {"chat_id": "c-1", "user_id": "u-1"})
            received = await next_item(heard, DEADLINE)
        assert received["event"] == "typing"
        assert received["payload"] == {"chat_id": "c-1", "user_id": "u-1"}
    finally:
        await listener.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_starting_while_supabase_is_down_keeps_retrying_until_it_is_up(
    embedded: EmbeddedStack,
) -> None:
    port = _free_port()
    recorder = Recorder()
    down = embedded.url.rsplit(":", 1)[0] + f":{port}/realtime/v1"
    server = TestServer(create_embedded_app(embedded.context), host="127.0.0.1", port=port)
    try:
        async with running_upstream(embedded, recorder, realtime_url=down) as upstream:
            assert not upstream.healthy  # start() returned without raising
            with pytest.raises(GatewayError) as refused:
                await upstream.notify(new_user_id(), "typing", {"chat_id": "c", "user_id": "u"})
            assert refused.value.code == "upstream_unavailable"

            await server.start_server()
            user = new_user_id()
            await upstream.subscribe(user)
            assert upstream.healthy
            await upstream.notify(user, "typing", {"chat_id": "c", "user_id": "u"})
            assert (await next_item(recorder.events, DEADLINE))[1] == "typing"
    finally:
        await server.close()
