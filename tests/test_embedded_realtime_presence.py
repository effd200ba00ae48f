"""Presence over the embedded Realtime socket: track, update, untrack, state, limits."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime import AsyncRealtimeChannel, AsyncRealtimeClient

from tests.realtime_helpers import (
    RealtimeStack,
    client,
    collect,
    join_payload,
    meta_values,
    next_item,
    options,
    raw_socket,
    v1,
)


class Member:
    """A realtime-py client on one room with presence callbacks feeding queues."""

    def __init__(self, stack: RealtimeStack, key: str, topic: str = "lobby") -> None:
        self.rt: AsyncRealtimeClient = client(stack)
        self.joins: asyncio.Queue[Any] = asyncio.Queue()
        self.leaves: asyncio.Queue[Any] = asyncio.Queue()
        self.syncs: asyncio.Queue[Any] = asyncio.Queue()
        self.channel: AsyncRealtimeChannel = (
            self.rt.channel(topic, options(key=key))
            .on_presence_join(collect(self.joins))
            .on_presence_leave(collect(self.leaves))
            .on_presence_sync(lambda: self.syncs.put_nowait(True))
        )

    async def subscribe(self) -> None:
        await self.channel.subscribe()
        await next_item(self.syncs)  # the presence_state pushed after the join


async def test_a_tracked_member_is_seen_by_others_and_by_itself(stack: RealtimeStack) -> None:
    alice, bob = Member(stack, "alice"), Member(stack, "bob")
    try:
        await alice.subscribe()
        await bob.subscribe()
        await alice.channel.track({"status": "online"})
        for member in (alice, bob):
            key, _current, new = await next_item(member.joins)
            assert key == "alice"
            assert new[0]["status"] == "online"
            assert new[0]["presence_ref"]
        assert list(bob.channel.presence_state()) == ["alice"]
    finally:
        await alice.rt.close()
        await bob.rt.close()


async def test_a_late_joiner_gets_the_presence_state(stack: RealtimeStack) -> None:
    alice, bob = Member(stack, "alice"), Member(stack, "bob")
    try:
        await alice.subscribe()
        await alice.channel.track({"n": 1})
        await next_item(alice.joins)
        await bob.subscribe()
        state = bob.channel.presence_state()
        assert meta_values(state["alice"], "n") == [1]
    finally:
        await alice.rt.close()
        await bob.rt.close()


async def test_several_connections_with_one_key_give_several_metas(stack: RealtimeStack) -> None:
    phone, laptop, watcher = Member(stack, "u1"), Member(stack, "u1"), Member(stack, "w")
    try:
        for member in (phone, laptop, watcher):
            await member.subscribe()
        await phone.channel.track({"device": "phone"})
        await next_item(watcher.joins)
        await laptop.channel.track({"device": "laptop"})
        await next_item(watcher.joins)
        devices = sorted(meta_values(watcher.channel.presence_state()["u1"], "device"))
        assert devices == ["laptop", "phone"]
        await laptop.rt.close()  # the socket dies: only its meta leaves
        key, current, left = await next_item(watcher.leaves)
        assert (key, meta_values(left, "device"), meta_values(current, "device")) == (
            "u1",
            ["laptop"],
            ["phone"],
        )
    finally:
        for member in (phone, laptop, watcher):
            await member.rt.close()


async def test_leaving_and_untracking_remove_the_member(stack: RealtimeStack) -> None:
    alice, bob = Member(stack, "alice"), Member(stack, "bob")
    try:
        await alice.subscribe()
        await bob.subscribe()
        await alice.channel.track({"x": 1})
        await next_item(bob.joins)
        await alice.channel.untrack()
        key, _current, left = await next_item(bob.leaves)
        assert (key, left[0]["x"]) == ("alice", 1)
        await alice.channel.track({"x": 2})
        await next_item(bob.joins)
        await alice.channel.unsubscribe()
        assert (await next_item(bob.leaves))[0] == "alice"
        assert bob.channel.presence_state() == {}
    finally:
        await alice.rt.close()
        await bob.rt.close()


async def test_an_update_is_a_join_and_a_leave_with_phx_ref_prev(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1(
                "realtime:lobby",
                "phx_join",
                join_payload(presence={"key": "k", "enabled": True}),
                "1",
                "1",
            )
        )
        await sock.recv()
        assert (await sock.recv())["event"] == "presence_state"
        await sock.send(
            v1("realtime:lobby", "presence", {"event": "track", "payload": {"v": 1}}, "2", "1")
        )
        assert (await sock.recv())["payload"] == {"status": "ok", "response": {}}
        first = (await sock.recv())["payload"]
        assert first["leaves"] == {}
        meta1 = first["joins"]["k"]["metas"][0]
        await sock.send(
            v1("realtime:lobby", "presence", {"event": "track", "payload": {"v": 1}}, "3", "1")
        )
        assert (await sock.recv())["payload"]["status"] == "ok"
        assert await sock.silent()  # identical payload: no diff
        await sock.send(
            v1("realtime:lobby", "presence", {"event": "TRACK", "payload": {"v": 2}}, "4", "1")
        )
        await sock.recv()
        diff = await sock.recv()
        assert diff["event"] == "presence_diff" and diff["ref"] is None
        assert diff["payload"]["leaves"] == {"k": {"metas": [meta1]}}
        meta2 = diff["payload"]["joins"]["k"]["metas"][0]
        assert meta2["v"] == 2 and meta2["phx_ref_prev"] == meta1["phx_ref"] != meta2["phx_ref"]


async def test_a_track_payload_must_be_a_map(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:lobby", "phx_join", join_payload(), "1", "1"))
        await sock.recv()
        await sock.send(
            v1("realtime:lobby", "presence", {"event": "track", "payload": [1]}, "2", "1")
        )
        assert (await sock.recv())["payload"] == {
            "status": "error",
            "response": {"reason": "Presence track payload must be a map"},
        }


async def test_too_many_presence_calls_close_the_channel(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:lobby", "phx_join", join_payload(), "1", "1"))
        await sock.recv()
        for n in range(5):
            await sock.send(
                v1(
                    "realtime:lobby",
                    "presence",
                    {"event": "track", "payload": {"n": n}},
                    f"r{n}",
                    "1",
                )
            )
            assert (await sock.recv())["payload"]["status"] == "ok"
            assert (await sock.recv())["event"] == "presence_diff"
        await sock.send(
            v1("realtime:lobby", "presence", {"event": "untrack", "payload": {}}, "r5", "1")
        )
        assert await sock.recv() == {
            "topic": "realtime:lobby",
            "event": "system",
            "payload": {
                "extension": "system",
                "status": "error",
                "message": "Client presence rate limit exceeded",
                "channel": "lobby",
            },
            "ref": None,
        }
        assert await sock.recv() == {
            "topic": "realtime:lobby",
            "event": "phx_close",
            "payload": {},
            "ref": "1",
        }


async def test_presence_diffs_reach_subscribers_without_presence_enabled(
    stack: RealtimeStack,
) -> None:
    alice = Member(stack, "alice")
    try:
        await alice.subscribe()
        async with raw_socket(stack.ws_url()) as sock:
            await sock.send(v1("realtime:lobby", "phx_join", join_payload(), "1", "1"))
            await sock.recv()
            await alice.channel.track({"a": 1})
            frame = await sock.recv()
            assert frame["event"] == "presence_diff"
            assert list(frame["payload"]["joins"]) == ["alice"]
    finally:
        await alice.rt.close()
