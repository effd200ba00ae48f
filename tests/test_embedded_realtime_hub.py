"""The hub's internal API (for Postgres Changes and Broadcast from Database) and its fan-out."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from realtime import RealtimePostgresChangesListenEvent

from gateway.embedded.realtime import Channel
from tests.realtime_helpers import (
    FAST,
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
    user_broadcast,
    user_token,
    v1,
)

PRIVATE = options(private=True)


async def test_a_database_message_reaches_the_private_topic_with_its_meta(
    stack: RealtimeStack,
) -> None:
    uid, token = await create_user(stack)
    rt = client(stack, token)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await rt.channel(f"user:{uid}", PRIVATE).on_broadcast("message", collect(heard)).subscribe()
        async with raw_socket(stack.ws_url(vsn="2.0.0")) as js:
            payload = {"access_token": token, **join_payload(private=True)}
            await js.send(["1", "1", f"realtime:user:{uid}", "phx_join", payload])
            assert (await js.recv())[4]["status"] == "ok"

            stack.hub.deliver_user_broadcast(
                f"user:{uid}", "message", '{"body":"hi"}', private=True, meta={"id": "m1"}
            )
            stack.hub.deliver_user_broadcast(
                f"user:{uid}", "message", '{"body":"public"}', private=False, meta=None
            )
            stack.hub.deliver_user_broadcast(
                f"user:{uid}", "message", b"\x00", private=True, meta={"id": "m2"}
            )

            assert await next_item(heard) == {
                "event": "message",
                "payload": {"body": "hi"},
                "meta": {"id": "m1"},
            }
            assert await js.recv() == user_broadcast(
                f"realtime:user:{uid}", "message", b'{"body":"hi"}', json=True, meta=b'{"id":"m1"}'
            )
            assert await js.recv() == user_broadcast(
                f"realtime:user:{uid}", "message", b"\x00", json=False, meta=b'{"id":"m2"}'
            )
            assert await nothing_arrives(heard)  # not the public message, not the binary one
    finally:
        await rt.close()


class Recorder:
    """A CDC-like observer: records hook calls and answers joins the way CDC will."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[str, Channel]] = asyncio.Queue()

    def channel_joined(self, channel: Channel) -> None:
        self.calls.put_nowait(("joined", channel))
        channel.push_system("postgres_changes", "ok", "Subscribed to PostgreSQL")
        binding = channel.postgres_changes[0]
        change = {
            "schema": binding.schema,
            "table": binding.table,
            "commit_timestamp": "2026-01-01T00:00:00.000Z",
            "type": "INSERT",
            "errors": None,
            "columns": [{"name": "id", "type": "int8"}],
            "record": {"id": 1},
        }
        channel.push_fastlane("postgres_changes", {"ids": [binding.id], "data": change})

    def channel_left(self, channel: Channel) -> None:
        self.calls.put_nowait(("left", channel))

    def channel_token_changed(self, channel: Channel) -> None:
        self.calls.put_nowait(("token", channel))


async def test_observers_follow_channels_with_postgres_changes(stack: RealtimeStack) -> None:
    recorder = Recorder()
    stack.hub.add_observer(recorder)
    uid, token = await create_user(stack)
    rt = client(stack, token)
    changes: asyncio.Queue[Any] = asyncio.Queue()
    system: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await rt.channel("plain").subscribe()
        channel = (
            rt.channel("db")
            .on_postgres_changes(
                RealtimePostgresChangesListenEvent.Insert,
                collect(changes),
                table="messages",
                filter="id=eq.1",
            )
            .on_system(collect(system))
        )
        await channel.subscribe()
        hook, joined = await next_item(recorder.calls)
        assert (hook, joined.topic, joined.claims.sub) == ("joined", "realtime:db", uid)
        binding = joined.postgres_changes[0]
        assert (binding.event, binding.schema, binding.table, binding.filter) == (
            "INSERT",
            "public",
            "messages",
            "id=eq.1",
        )
        assert [ch.topic for ch in stack.hub.channels() if ch.postgres_changes] == ["realtime:db"]
        assert (await next_item(system)).message == "Subscribed to PostgreSQL"
        assert (await next_item(changes))["data"]["record"] == {"id": 1}

        await rt.set_auth(user_token(stack, uid, ttl=600))
        assert await next_item(recorder.calls) == ("token", joined)
        await channel.unsubscribe()
        assert await next_item(recorder.calls) == ("left", joined)
        assert await nothing_arrives(recorder.calls)  # the plain channel never showed up
    finally:
        await rt.close()


async def test_a_client_that_stops_reading_is_cut_off_without_slowing_others(
    database_url: str, tmp_path: Path
) -> None:
    settings = replace(FAST, outgoing_queue_max=8)
    async with realtime_stack(database_url, tmp_path, settings) as stack:
        topic = (False, "firehose")
        chunk = json.dumps({"blob": "x" * 100_000})
        async with raw_socket(stack.ws_url()) as slow, raw_socket(stack.ws_url()) as fast:
            for sock in (slow, fast):
                await sock.send(
                    {
                        "topic": "realtime:firehose",
                        "event": "phx_join",
                        "payload": join_payload(),
                        "ref": "1",
                    }
                )
                await sock.recv()
            received: asyncio.Queue[Any] = asyncio.Queue()

            async def read_fast() -> None:
                while True:
                    received.put_nowait(await fast.recv())

            reader = asyncio.create_task(read_fast())
            sent = 0
            async with aiohttp.ClientSession() as session:  # each send yields to the loop
                while len(stack.hub.subscribers(topic)) == 2:
                    assert sent < 2000, "the slow client was never disconnected"
                    async with session.post(
                        stack.realtime_url + "/api/broadcast/firehose/events/e",
                        data=chunk,
                        headers={"apikey": stack.anon_key, "Content-Type": "application/json"},
                    ) as resp:
                        assert resp.status == 202
                    sent += 1
            try:
                for _ in range(sent):  # the fast client got every message
                    await next_item(received)
            finally:
                reader.cancel()
            frames = 0
            while (msg := await slow.ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                frames += 1
            assert msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            )
            assert frames < sent


async def test_a_private_join_replays_recent_database_messages_once(stack: RealtimeStack) -> None:
    uid, token = await create_user(stack)
    topic = f"user:{uid}"
    await run_sql(
        stack,
        f"""
        insert into realtime.messages (id, topic, extension, event, payload, private, inserted_at)
        values ('00000000-0000-0000-0000-000000000001', '{topic}', 'broadcast', 'm', '{{"n":1}}',
                true, now()::timestamp - interval '3 seconds'),
               ('00000000-0000-0000-0000-000000000002', '{topic}', 'broadcast', 'm', '{{"n":2}}',
                true, now()::timestamp - interval '2 seconds'),
               ('00000000-0000-0000-0000-000000000003', '{topic}', 'broadcast', 'm', '{{"n":3}}',
                true, now()::timestamp - interval '1 seconds'),
               ('00000000-0000-0000-0000-000000000004', '{topic}', 'broadcast', 'm', '{{"n":4}}',
                false, now()::timestamp);
        """,
    )
    config = join_payload(private=True, broadcast={"replay": {"since": 0, "limit": 2}})
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1(f"realtime:{topic}", "phx_join", {**config, "access_token": token}, "1"))
        assert (await sock.recv())["payload"]["status"] == "ok"
        for n in (2, 3):
            frame = await sock.recv()
            assert frame["payload"] == {
                "payload": {"n": n},
                "event": "m",
                "type": "broadcast",
                "meta": {"replayed": True, "id": f"00000000-0000-0000-0000-00000000000{n}"},
            }
        replayed_id = "00000000-0000-0000-0000-000000000003"
        stack.hub.deliver_user_broadcast(
            topic, "m", '{"n":3}', private=True, meta={"id": replayed_id}
        )
        stack.hub.deliver_user_broadcast(topic, "m", '{"n":5}', private=True, meta={"id": "new"})
        assert (await sock.recv())["payload"]["payload"] == {"n": 5}


async def test_replay_is_refused_on_public_channels_and_with_bad_params(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        public = join_payload(broadcast={"replay": {"since": 0}})
        await sock.send(v1("realtime:a", "phx_join", public, "1"))
        assert (await sock.recv())["payload"]["response"] == {
            "reason": "UnableToReplayMessages: Replay is not allowed for public channels"
        }
        bad = join_payload(private=True, broadcast={"replay": {"since": "yesterday"}})
        await sock.send(
            v1("realtime:b", "phx_join", {**bad, "access_token": stack.service_key}, "2")
        )
        assert (await sock.recv())["payload"]["response"] == {
            "reason": "UnableToReplayMessages: Replay params are not valid"
        }
