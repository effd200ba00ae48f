"""The delivery feed against the embedded server over real sockets: the fixed topics the
database names, recovery from dead, silent or closed sockets and channels (each asking
for a position check), a failing handler, typing over REST, and a late Supabase."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from realtime import AsyncRealtimeClient

from gateway.embedded.realtime import hub_key
from gateway.embedded.server import create_embedded_app
from gateway.errors import GatewayError
from tests.conftest import EmbeddedStack
from tests.realtime_helpers import collect, next_item, nothing_arrives, options
from tests.upstream_helpers import (
    DEADLINE,
    QUIET,
    Recorder,
    chat_topic,
    drop_server_sockets,
    events_until,
    publish,
    running_feed,
    silence_server_sockets,
)


async def _live(recorder: Recorder) -> None:
    assert await next_item(recorder.states, DEADLINE) == "live"


async def test_the_feed_holds_the_databases_topics_and_hears_each_of_them(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_feed(embedded, recorder) as feed:
        await _live(recorder)
        assert feed.topics == [f"chats:{k}" for k in range(8)]
        assert feed.live
        for topic in feed.topics:
            await publish(embedded, topic, {"on": topic})
        events = await events_until(recorder.events, len(feed.topics))
        assert sorted(payload["on"] for _, payload in events) == sorted(feed.topics)
        assert await nothing_arrives(recorder.checks, QUIET)  # nothing was lost


async def test_the_number_of_channels_does_not_depend_on_chats_or_users(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_feed(embedded, recorder) as feed:
        await _live(recorder)
        chats = [str(uuid.uuid4()) for _ in range(50)]
        for chat in chats:
            await publish(embedded, await chat_topic(embedded, chat), {"chat_id": chat})
        events = await events_until(recorder.events, len(chats))
        assert sorted(payload["chat_id"] for _, payload in events) == sorted(chats)
        server_topics = {c.topic for c in embedded.app[hub_key].channels()}
        assert {t for t in server_topics if t.startswith("realtime:chats:")} == {
            f"realtime:{t}" for t in feed.topics
        }


async def test_a_socket_closed_by_the_server_is_replaced_and_a_check_is_asked_for(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_feed(embedded, recorder) as feed:
        await _live(recorder)
        assert await drop_server_sockets(embedded) == 1
        assert await next_item(recorder.states, DEADLINE) == "down"
        await _live(recorder)
        await next_item(recorder.checks, DEADLINE)  # what was missed comes from the database
        await publish(embedded, feed.topics[3], {"after": "restart"})
        assert (await next_item(recorder.events, DEADLINE))[1]["after"] == "restart"


async def test_a_silent_half_open_socket_is_found_by_the_probe_and_replaced(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()
    async with running_feed(embedded, recorder) as feed:
        await _live(recorder)
        assert silence_server_sockets(embedded) == 1
        await next_item(recorder.checks, DEADLINE)
        await publish(embedded, feed.topics[0], {"after": "silence"})
        assert (await next_item(recorder.events, DEADLINE))[1]["after"] == "silence"


async def test_a_channel_closed_by_the_server_is_joined_again(embedded: EmbeddedStack) -> None:
    recorder = Recorder()
    async with running_feed(embedded, recorder) as feed:
        await _live(recorder)
        hub = embedded.app[hub_key]
        (server_channel,) = [c for c in hub.channels() if c.topic == "realtime:chats:5"]

        server_channel.shutdown("test: channel ended by the server")

        await next_item(recorder.checks, DEADLINE)
        await publish(embedded, feed.topics[5], {"after": "close"})
        assert (await next_item(recorder.events, DEADLINE))[1]["after"] == "close"


async def test_a_failing_event_handler_does_not_stop_later_deliveries(
    embedded: EmbeddedStack,
) -> None:
    recorder = Recorder()

    def explosive(event: str, payload: dict[str, Any]) -> None:
        if payload.get("explode"):
            raise RuntimeError("handler bug")
        recorder.on_event(event, payload)

    async with running_feed(embedded, recorder, on_event=explosive) as feed:
        await _live(recorder)
        await publish(embedded, feed.topics[1], {"explode": True})
        await publish(embedded, feed.topics[1], {"n": 2})
        assert (await next_item(recorder.events, DEADLINE))[1]["n"] == 2
        assert await nothing_arrives(recorder.checks, QUIET)  # the socket stayed up


async def test_typing_reaches_the_gateways_and_the_peers_private_topic(
    embedded: EmbeddedStack,
) -> None:
    me, peer, chat = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    listener = AsyncRealtimeClient(embedded.url + "/realtime/v1", embedded.service_key)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    recorder = Recorder()
    try:
        channel = listener.channel(f"user:{peer}", options(private=True))
        await channel.on_broadcast("typing", collect(heard)).subscribe()
        async with running_feed(embedded, recorder) as feed:
            await _live(recorder)
            await feed.typing(chat, me, [me, peer])
            received = await next_item(heard, DEADLINE)
            event, payload = await next_item(recorder.events, DEADLINE)
        assert received["event"] == "typing"
        assert received["payload"] == {"chat_id": chat, "user_id": me}
        assert (event, payload) == (
            "typing",
            {"chat_id": chat, "user_id": me, "member_ids": [me, peer]},
        )
        assert await nothing_arrives(heard, QUIET)  # the typist's own topic is not told
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
        async with running_feed(embedded, recorder, realtime_url=down) as feed:
            assert not feed.live  # start() returned without raising
            with pytest.raises(GatewayError) as refused:
                await feed.typing(str(uuid.uuid4()), str(uuid.uuid4()), [])
            assert refused.value.code == "upstream_unavailable"

            await server.start_server()
            await _live(recorder)
            await publish(embedded, feed.topics[0], {"up": True})
            assert (await next_item(recorder.events, DEADLINE))[1]["up"] is True
    finally:
        await server.close()
