"""Private channels: RLS policies on realtime.messages decide who reads, writes and tracks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from tests.realtime_helpers import (
    RealtimeStack,
    client,
    collect,
    create_user,
    join_payload,
    next_item,
    nothing_arrives,
    options,
    raw_socket,
    realtime_stack,
    run_sql,
    v1,
)

ROOM_POLICIES = """
create table public.test_room_members (
  topic text not null, user_id uuid not null,
  can_write boolean not null default false, can_track boolean not null default false
);
grant select on public.test_room_members to authenticated;
create policy "members read the room" on realtime.messages for select to authenticated
  using (exists (select 1 from public.test_room_members m
                 where m.topic = (select realtime.topic()) and m.user_id = (select auth.uid())));
create policy "writers broadcast" on realtime.messages for insert to authenticated
  with check (extension = 'broadcast' and exists (
    select 1 from public.test_room_members m
    where m.topic = (select realtime.topic()) and m.user_id = (select auth.uid()) and m.can_write));
create policy "trackers track" on realtime.messages for insert to authenticated
  with check (extension = 'presence' and exists (
    select 1 from public.test_room_members m
    where m.topic = (select realtime.topic()) and m.user_id = (select auth.uid()) and m.can_track));
create policy "door opens with the password header" on realtime.messages for select to anon
  using (topic = 'door'
         and current_setting('request.headers', true)::json ->> 'x-room-pass' = 'open-sesame');
"""

PRIVATE = options(private=True)


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    async with realtime_stack(database_url, tmp_path) as s:
        await run_sql(s, ROOM_POLICIES)
        yield s


async def member(
    stack: RealtimeStack, topic: str, *, write: bool = False, track: bool = False
) -> str:
    uid, token = await create_user(stack)
    await run_sql(
        stack,
        f"insert into public.test_room_members values ('{topic}', '{uid}', {write}, {track})",
    )
    return token


async def subscribe(rt: AsyncRealtimeClient, channel: AsyncRealtimeChannel) -> tuple[Any, Any]:
    states: asyncio.Queue[Any] = asyncio.Queue()
    await channel.subscribe(collect(states))
    result: tuple[Any, Any] = await next_item(states)
    return result


async def test_a_user_may_join_their_own_topic_and_not_another_users(stack: RealtimeStack) -> None:
    uid, token = await create_user(stack)
    other, _ = await create_user(stack)
    rt = client(stack, token)
    try:
        own = await subscribe(rt, rt.channel(f"user:{uid}", PRIVATE))
        assert own == (RealtimeSubscribeStates.SUBSCRIBED, None)
        state, error = await subscribe(rt, rt.channel(f"user:{other}", PRIVATE))
        assert state == RealtimeSubscribeStates.CHANNEL_ERROR
        denied = "You do not have permissions to read from this Channel topic"
        assert str(error) == f'{{"reason": "Unauthorized: {denied}: user:{other}"}}'
    finally:
        await rt.close()


async def test_the_anon_key_cannot_join_a_private_channel_without_a_policy(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:room", "phx_join", join_payload(private=True), "1", "1"))
        denied = "You do not have permissions to read from this Channel topic"
        assert (await sock.recv())["payload"]["response"] == {
            "reason": f"Unauthorized: {denied}: room"
        }


async def test_policies_see_the_socket_request_headers(stack: RealtimeStack) -> None:
    for password, status in (("open-sesame", "ok"), ("wrong", "error")):
        async with raw_socket(stack.ws_url(), headers={"x-room-pass": password}) as sock:
            await sock.send(v1("realtime:door", "phx_join", join_payload(private=True), "1", "1"))
            assert (await sock.recv())["payload"]["status"] == status


async def test_only_writers_broadcast_on_a_private_channel(stack: RealtimeStack) -> None:
    writer = await member(stack, "room", write=True)
    reader = await member(stack, "room")
    listener = await member(stack, "room")
    heard: asyncio.Queue[Any] = asyncio.Queue()
    rt = client(stack, listener)
    try:
        await rt.channel("room", PRIVATE).on_broadcast("*", collect(heard)).subscribe()
        config = {**join_payload(private=True, broadcast={"ack": True, "self": False})}
        async with raw_socket(stack.ws_url()) as w, raw_socket(stack.ws_url()) as r:
            await w.send(
                v1("realtime:room", "phx_join", {**config, "access_token": writer}, "1", "1")
            )
            await r.send(
                v1("realtime:room", "phx_join", {**config, "access_token": reader}, "1", "1")
            )
            assert (await w.recv())["payload"]["status"] == "ok"
            assert (await r.recv())["payload"]["status"] == "ok"
            message = {"type": "broadcast", "event": "say", "payload": {"text": "hi"}}
            await r.send(v1("realtime:room", "broadcast", message, "2", "1"))
            assert await r.silent()  # dropped without an ack
            assert await nothing_arrives(heard)
            await w.send(v1("realtime:room", "broadcast", message, "2", "1"))
            assert (await w.recv())["payload"] == {"status": "ok", "response": {}}
            assert await next_item(heard) == {"event": "say", "payload": {"text": "hi"}}
    finally:
        await rt.close()


async def test_presence_on_a_private_channel_needs_presence_permissions(
    stack: RealtimeStack,
) -> None:
    tracker = await member(stack, "room", track=True)
    watcher = await member(stack, "room")
    presence = join_payload(private=True, presence={"key": "", "enabled": True})
    async with raw_socket(stack.ws_url()) as t, raw_socket(stack.ws_url()) as w:
        await t.send(
            v1(
                "realtime:room",
                "phx_join",
                {**join_payload(private=True), "access_token": tracker},
                "1",
                "1",
            )
        )
        await w.send(
            v1("realtime:room", "phx_join", {**presence, "access_token": watcher}, "1", "1")
        )
        assert (await t.recv())["payload"]["status"] == "ok"
        assert (await w.recv())["payload"]["status"] == "ok"
        assert (await w.recv())["event"] == "presence_state"

        await w.send(
            v1("realtime:room", "presence", {"event": "track", "payload": {"w": 1}}, "2", "1")
        )
        assert (await w.recv())["payload"] == {"status": "error", "response": {}}

        await t.send(
            v1("realtime:room", "presence", {"event": "track", "payload": {"t": 1}}, "2", "1")
        )
        assert (await t.recv())["payload"] == {"status": "ok", "response": {}}
        for sock in (t, w):  # the tracker's read was authorized when it first tracked
            diff = await sock.recv()
            assert diff["event"] == "presence_diff"
            assert [
                m["t"]
                for key in diff["payload"]["joins"]
                for m in diff["payload"]["joins"][key]["metas"]
            ] == [1]


async def test_the_service_role_joins_any_private_channel(stack: RealtimeStack) -> None:
    rt = client(stack, stack.service_key)
    try:
        assert await subscribe(rt, rt.channel("anything", PRIVATE)) == (
            RealtimeSubscribeStates.SUBSCRIBED,
            None,
        )
    finally:
        await rt.close()


async def test_a_failing_policy_refuses_the_join(
    stack: RealtimeStack, caplog: pytest.LogCaptureFixture
) -> None:
    await run_sql(
        stack,
        """create policy "broken" on realtime.messages for select to anon
             using (topic = 'broken' and 1 / (length(topic) - 6) = 1)""",
    )
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:broken", "phx_join", join_payload(private=True), "1", "1"))
        denied = "You do not have permissions to read from this Channel topic"
        assert (await sock.recv())["payload"]["response"] == {
            "reason": f"Unauthorized: {denied}: broken"
        }
        await sock.send(v1("phoenix", "heartbeat", {}, "2"))
        assert (await sock.recv())["ref"] == "2"  # the socket is fine
    assert "RlsPolicyError" in caplog.text
