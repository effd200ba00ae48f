"""Broadcast over the embedded Realtime socket, seen through the official clients."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from realtime import RealtimeAcknowledgementStatus, RealtimeSubscribeStates
from realtime.message import ReplyPostgresChanges
from supabase import AsyncClientOptions, acreate_client

from tests.realtime_helpers import (
    FAST,
    RealtimeStack,
    client,
    collect,
    join_payload,
    next_item,
    nothing_arrives,
    options,
    raw_socket,
    realtime_stack,
    user_broadcast,
    user_broadcast_push,
    v1,
)


async def test_a_broadcast_reaches_the_other_client_but_not_the_sender(
    stack: RealtimeStack,
) -> None:
    alice, bob = client(stack), client(stack)
    to_alice: asyncio.Queue[Any] = asyncio.Queue()
    to_bob: asyncio.Queue[Any] = asyncio.Queue()
    states: asyncio.Queue[Any] = asyncio.Queue()
    try:
        a = alice.channel("room1").on_broadcast("msg", collect(to_alice))
        b = bob.channel("room1").on_broadcast("msg", collect(to_bob))
        await a.subscribe(collect(states))
        await b.subscribe(collect(states))
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED

        await a.send_broadcast("msg", {"hello": 1})

        assert await next_item(to_bob) == {"event": "msg", "payload": {"hello": 1}}
        assert await nothing_arrives(to_alice)
    finally:
        await alice.close()
        await bob.close()


async def test_self_broadcast_echoes_to_the_sender_and_ack_confirms(stack: RealtimeStack) -> None:
    rt = client(stack)
    received: asyncio.Queue[Any] = asyncio.Queue()
    acks: asyncio.Queue[Any] = asyncio.Queue()
    try:
        channel = rt.channel("room1", options(self_=True, ack=True))
        channel.on_broadcast("*", collect(received))
        await channel.subscribe()
        push = await channel.push(
            "broadcast", {"type": "broadcast", "event": "Hi", "payload": {"n": 1}}
        )
        push.receive(RealtimeAcknowledgementStatus.Ok, collect(acks))
        assert await next_item(received) == {"event": "Hi", "payload": {"n": 1}}
        assert await next_item(acks) == ReplyPostgresChanges()
    finally:
        await rt.close()


async def test_supabase_py_clients_exchange_broadcasts(stack: RealtimeStack) -> None:
    options = AsyncClientOptions(realtime={"max_retries": 1, "initial_backoff": 0.05})
    sender = await acreate_client(stack.url, stack.anon_key, options)
    receiver = await acreate_client(stack.url, stack.anon_key, options)
    received: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await receiver.channel("chat").on_broadcast("msg", collect(received)).subscribe()
        channel = await sender.channel("chat").subscribe()
        await channel.send_broadcast("msg", {"text": "hello"})
        assert await next_item(received) == {"event": "msg", "payload": {"text": "hello"}}
    finally:
        await sender.remove_all_channels()
        await receiver.remove_all_channels()


async def test_a_binary_v2_broadcast_reaches_v2_as_binary_and_v1_as_json(
    stack: RealtimeStack,
) -> None:
    rt = client(stack)
    received: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await rt.channel("room1").on_broadcast("*", collect(received)).subscribe()
        async with (
            raw_socket(stack.ws_url(vsn="2.0.0")) as js,
            raw_socket(stack.ws_url(vsn="2.0.0")) as other,
        ):
            for sock, ref in ((js, "1"), (other, "9")):
                await sock.send([ref, ref, "realtime:room1", "phx_join", join_payload()])
                await sock.recv()
            await js.send(
                user_broadcast_push("1", "2", "realtime:room1", "shout", b'{"a":1}', json=True)
            )
            assert await other.recv() == user_broadcast(
                "realtime:room1", "shout", b'{"a":1}', json=True
            )
            assert await next_item(received) == {"event": "shout", "payload": {"a": 1}}

            await js.send(
                user_broadcast_push("1", "3", "realtime:room1", "raw", b"\x00\x01", json=False)
            )
            assert await other.recv() == user_broadcast(
                "realtime:room1", "raw", b"\x00\x01", json=False
            )
            assert await nothing_arrives(received)  # V1 clients cannot receive binary payloads
            assert await js.silent()  # self is false
    finally:
        await rt.close()


async def test_a_v2_json_broadcast_is_forwarded_verbatim(stack: RealtimeStack) -> None:
    async with (
        raw_socket(stack.ws_url(vsn="2.0.0")) as sender,
        raw_socket(stack.ws_url()) as v1_sock,
        raw_socket(stack.ws_url(vsn="2.0.0")) as v2_sock,
    ):
        await sender.send(["1", "1", "realtime:r", "phx_join", join_payload()])
        await v2_sock.send(["1", "1", "realtime:r", "phx_join", join_payload()])
        await v1_sock.send(v1("realtime:r", "phx_join", join_payload(), "1", "1"))
        for sock in (sender, v2_sock, v1_sock):
            await sock.recv()
        payload = {"type": "broadcast", "event": "e", "payload": {"k": "v"}, "extra": True}
        await sender.send(["1", "2", "realtime:r", "broadcast", payload])
        assert await v2_sock.recv() == [None, None, "realtime:r", "broadcast", payload]
        assert await v1_sock.recv() == {
            "topic": "realtime:r",
            "event": "broadcast",
            "payload": payload,
            "ref": None,
        }


async def test_an_oversized_broadcast_is_dropped_with_an_error_ack(
    database_url: str, tmp_path: Path
) -> None:
    settings = replace(FAST, max_payload_size_kb=1)
    async with realtime_stack(database_url, tmp_path, settings) as stack:
        async with raw_socket(stack.ws_url()) as sender, raw_socket(stack.ws_url()) as listener:
            config = join_payload(broadcast={"ack": True, "self": False})
            await sender.send(v1("realtime:r", "phx_join", config, "1", "1"))
            await listener.send(v1("realtime:r", "phx_join", config, "1", "1"))
            await sender.recv()
            await listener.recv()
            big = {"type": "broadcast", "event": "e", "payload": {"blob": "x" * 2000}}
            await sender.send(v1("realtime:r", "broadcast", big, "2", "1"))
            assert (await sender.recv())["payload"] == {
                "status": "error",
                "response": "payload_size_exceeded",
            }
            assert await listener.silent()
            small = {"type": "broadcast", "event": "e", "payload": {"blob": "x"}}
            await sender.send(v1("realtime:r", "broadcast", small, "3", "1"))
            assert (await sender.recv())["payload"] == {"status": "ok", "response": {}}
            assert (await listener.recv())["payload"] == small


async def test_public_and_private_channels_of_one_name_do_not_mix(stack: RealtimeStack) -> None:
    private, public = client(stack, stack.service_key), client(stack)
    to_private: asyncio.Queue[Any] = asyncio.Queue()
    to_public: asyncio.Queue[Any] = asyncio.Queue()
    try:
        p = (
            await private.channel("room", options(private=True, self_=True))
            .on_broadcast("*", collect(to_private))
            .subscribe()
        )
        q = await public.channel("room").on_broadcast("*", collect(to_public)).subscribe()
        await q.send_broadcast("e", {"from": "public"})
        assert await nothing_arrives(to_private)
        await p.send_broadcast("e", {"from": "private"})
        assert (await next_item(to_private))["payload"] == {"from": "private"}
        assert await nothing_arrives(to_public)
    finally:
        await private.close()
        await public.close()
