"""Nothing is lost: reconnecting with since_seq or a resume frame, messages committed while a
socket connects, retry storms, offline receivers, and a Realtime outage mid-conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest

from gateway.embedded.realtime import hub_key
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Client,
    Gateway,
    User,
    api,
    connect,
    gateway_config,
    rest_send,
    running_gateway,
)
from tests.proxy_helpers import HISTORY_PATH, START_POINTS_PATH, holding_proxy


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


async def test_reconnecting_with_since_seq_gets_the_gap_then_live(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        for n in range(3):
            await rest_send(gateway, bob, alice, f"before {n}")
        assert seqs(await a.messages(3)) == [1, 2, 3]
    for n in range(5):
        await rest_send(gateway, bob, alice, f"while away {n}")
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token, query={"since_seq": "3"}) as a:
        assert seqs(await a.messages(5)) == [4, 5, 6, 7, 8]
        await rest_send(gateway, bob, alice, "live")
        assert seqs(await a.messages(1)) == [9]
        await a.nothing("message")


async def test_a_resume_frame_on_the_all_chats_socket(
    gateway: Gateway, alice: User, bob: User
) -> None:
    first = await rest_send(gateway, bob, alice, "one")
    for n in range(4):
        await rest_send(gateway, bob, alice, f"more {n}")
    async with connect(gateway, "/ws", token=alice.token) as a:
        await a.send({"type": "resume", "chat_id": first["chat_id"], "since_seq": 2})
        assert seqs(await a.messages(3)) == [3, 4, 5]
        await a.send({"type": "resume", "peer_id": bob.id, "since_seq": 0})
        assert seqs(await a.messages(5)) == [1, 2, 3, 4, 5]
        await a.nothing("message")


async def test_messages_committed_while_connecting_arrive_once_in_order(
    gateway: Gateway, alice: User, bob: User
) -> None:
    total = 30

    async def sender() -> None:
        for n in range(total):
            await rest_send(gateway, bob, alice, f"stream {n}")

    task = asyncio.create_task(sender())
    await asyncio.sleep(0)  # let the first sends start before we connect
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token, query={"since_seq": "0"}) as a:
        await task
        assert seqs(await a.messages(total)) == list(range(1, total + 1))
        await a.nothing("message")


async def test_a_fresh_socket_gets_everything_sent_after_it_connected(
    gateway: Gateway, alice: User, bob: User
) -> None:
    await rest_send(gateway, bob, alice, "old news")
    async with connect(gateway, "/ws", token=alice.token) as a:
        await a.send({"type": "ping"})
        await a.next("pong")  # the socket is fully set up
        for n in range(10):
            await rest_send(gateway, bob, alice, f"new {n}")
        assert seqs(await a.messages(10)) == list(range(2, 12))
        await a.nothing("message")


async def test_an_offline_receiver_loses_nothing(gateway: Gateway, alice: User, bob: User) -> None:
    for n in range(3):
        await rest_send(gateway, alice, bob, f"while bob sleeps {n}")
    _, history = await api(gateway, "GET", f"/api/chat/{alice.id}/messages", token=bob.token)
    assert seqs(history["messages"]) == [1, 2, 3]
    _, chats = await api(gateway, "GET", "/api/chats", token=bob.token)
    assert chats["chats"][0]["unread_count"] == 3
    async with connect(gateway, f"/ws/{alice.id}", token=bob.token, query={"since_seq": "0"}) as b:
        assert [m["message_text"] for m in await b.messages(3)] == [
            f"while bob sleeps {n}" for n in range(3)
        ]


async def test_a_websocket_retry_storm_stores_one_message(
    gateway: Gateway, alice: User, bob: User
) -> None:
    async with connect(gateway, f"/ws/{alice.id}", token=bob.token) as b, AsyncExitStack() as stack:
        clients: list[Client] = [
            await stack.enter_async_context(connect(gateway, f"/ws/{bob.id}", token=alice.token))
            for _ in range(10)
        ]
        frame = {"type": "chat", "message": "retry me", "client_msg_id": "same"}
        await asyncio.gather(*(c.send(frame) for c in clients))
        acks = [await c.next("ack") for c in clients]
        assert len({ack["message"]["id"] for ack in acks}) == 1
        assert seqs(await b.messages(1)) == [1]
        await b.nothing("message")


async def test_a_realtime_outage_mid_conversation_loses_nothing(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    realtime = embedded.app[hub_key]
    async with (
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as b,
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
    ):
        await a.send({"type": "chat", "message": "before the outage"})
        await a.next("ack")
        assert seqs(await b.messages(1)) == [1]
        # Realtime drops every socket (the gateway's upstream among them); meanwhile the
        # conversation goes on through the Data API.
        outage = asyncio.create_task(realtime.close_connections())
        for n in range(5):
            await a.send({"type": "chat", "message": f"during {n}"})
            await a.next("ack")
        await outage
        for n in range(3):
            await a.send({"type": "chat", "message": f"after {n}"})
            await a.next("ack")
        assert seqs(await b.messages(8, timeout=30)) == list(range(2, 10))
        await b.nothing("message")


async def test_without_realtime_a_socket_is_answered_and_the_position_check_delivers(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """Connecting does not wait for Realtime: with Realtime unreachable, a new socket is
    answered and can send; what is committed for it meanwhile arrives by the position
    check (in order, once), `ready` comes when Realtime is back, then live messages."""
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(
            embedded, supabase={"url": proxy.url}, delivery={"position_check_seconds": 0.5}
        )
        async with running_gateway(config, embedded) as gw:
            await proxy.cut()
            async with connect(gw, f"/ws/{alice.id}", token=bob.token, live=False) as b:
                await b.send({"type": "ping"})
                await b.next("pong")
                for n in range(3):
                    await rest_send(gw, alice, bob, f"while realtime is away {n}")
                await b.send({"type": "chat", "message": "bob too"})
                assert (await b.next("ack"))["message"]["seq"] == 4
                assert seqs(await b.messages(3, timeout=30)) == [1, 2, 3]
                assert not b.live.is_set()
                proxy.release()
                await b.next("ready", timeout=30)
                await rest_send(gw, alice, bob, "live")
                assert seqs(await b.messages(1)) == [5]
                await b.nothing("message")


async def test_a_new_user_comes_up_on_one_read_and_gets_what_came_while_it_read(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """A user's first socket is answered once where each chat stands is read (one
    start-point read, no history read); messages committed while that read's answer was on
    its way arrive once, in order, then live ones."""
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url})
        async with running_gateway(config, embedded) as gw:
            await rest_send(gw, alice, bob, "before bob came")
            proxy.hold(START_POINTS_PATH)
            connecting = asyncio.create_task(
                _enter(connect(gw, f"/ws/{alice.id}", token=bob.token, live=False))
            )
            await asyncio.wait_for(proxy.holding.wait(), 30)  # read; answer held
            for n in range(3):
                await rest_send(gw, alice, bob, f"while bob's start point travels {n}")
            assert not connecting.done()  # the upgrade waits for the start point
            proxy.restore()
            async with await connecting as b:
                await b.ready()
                assert seqs(await b.messages(3)) == [2, 3, 4]
                await rest_send(gw, alice, bob, "live")
                assert seqs(await b.messages(1)) == [5]
                await b.nothing("message")
            assert proxy.requests[START_POINTS_PATH] == 1
            assert proxy.requests[HISTORY_PATH] == 0


async def test_a_start_point_the_data_api_cannot_read_refuses_the_upgrade_with_503(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """If where the user's chats stand cannot be read, the socket is not answered as
    connected: the upgrade gets 503 upstream_unavailable (retry later), nothing of the
    socket is left behind, and the retry works and loses nothing."""
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url})
        async with running_gateway(config, embedded) as gw:
            await rest_send(gw, alice, bob, "first")
            proxy.refuse(START_POINTS_PATH)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with connect(gw, f"/ws/{alice.id}", token=bob.token):
                    pass
            assert refused.value.status == 503
            proxy.restore()
            await rest_send(gw, alice, bob, "second")
            async with connect(
                gw, f"/ws/{alice.id}", token=bob.token, query={"since_seq": "0"}
            ) as b:
                assert seqs(await b.messages(2)) == [1, 2]
                await rest_send(gw, alice, bob, "live")
                assert seqs(await b.messages(1)) == [3]
                await b.nothing("message")


async def test_a_catch_up_the_data_api_cannot_read_closes_with_1013_and_the_retry_works(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """`?since_seq=` whose history read fails: the client is told `upstream_unavailable`
    and the socket closes with 1013 (retry later) — not `internal`/1011, and never left
    open with a hole; reconnecting with the same since_seq then gets everything."""
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url})
        async with running_gateway(config, embedded) as gw:
            await rest_send(gw, alice, bob, "first")
            proxy.refuse(HISTORY_PATH)
            async with connect(
                gw, f"/ws/{alice.id}", token=bob.token, query={"since_seq": "0"}
            ) as b:
                error = await b.next("error")
                assert error["code"] == "upstream_unavailable"
                assert await b.wait_closed() == 1013
            proxy.restore()
            async with connect(
                gw, f"/ws/{alice.id}", token=bob.token, query={"since_seq": "0"}
            ) as b:
                assert seqs(await b.messages(1)) == [1]
                await rest_send(gw, alice, bob, "live")
                assert seqs(await b.messages(1)) == [2]


async def _enter(
    context: AbstractAsyncContextManager[Client],
) -> AbstractAsyncContextManager[Client]:
    """Open a socket in a task: returns a context that yields the opened client."""
    client = await context.__aenter__()

    @asynccontextmanager
    async def opened() -> AsyncIterator[Client]:
        try:
            yield client
        finally:
            await context.__aexit__(None, None, None)

    return opened()


async def test_a_data_api_gateway_timeout_is_reported_as_upstream_unavailable(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """A 504 from in front of the Data API is a retryable outage, not an internal error."""
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url})
        async with running_gateway(config, embedded) as gw:
            await rest_send(gw, alice, bob, "hello")
            proxy.refuse(HISTORY_PATH)
            status, body = await api(gw, "GET", f"/api/chat/{bob.id}/messages", token=alice.token)
            assert (status, body["error"]["code"]) == (503, "upstream_unavailable")
            proxy.restore()
            status, body = await api(gw, "GET", f"/api/chat/{bob.id}/messages", token=alice.token)
            assert status == 200
            assert [m["message_text"] for m in body["messages"]] == ["hello"]
