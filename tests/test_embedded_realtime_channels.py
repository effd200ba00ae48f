"""Joining and leaving channels: reply shapes, join_refs, errors and limits, on the wire."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from realtime import RealtimePostgresChangesListenEvent, RealtimeSubscribeStates

from tests.realtime_helpers import (
    FAST,
    RealtimeStack,
    client,
    collect,
    join_payload,
    next_item,
    raw_socket,
    realtime_stack,
    v1,
)


async def test_a_v1_join_reply_carries_only_topic_event_payload_and_ref(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:room1", "phx_join", join_payload(), "1", "1"))
        assert await sock.recv() == {
            "topic": "realtime:room1",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {"postgres_changes": []}},
            "ref": "1",
        }


async def test_postgres_changes_bindings_are_echoed_with_stable_nonzero_ids(
    stack: RealtimeStack,
) -> None:
    bindings = [
        {"event": "INSERT", "schema": "public", "table": "todos"},
        {"event": "*", "schema": "public", "table": "todos", "filter": "id=eq.1", "select": ["id"]},
        {"event": "INSERT", "schema": "public", "table": "todos"},
    ]
    replies = []
    for _ in range(2):
        async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
            await sock.send(
                ["1", "1", "realtime:room1", "phx_join", join_payload(postgres_changes=bindings)]
            )
            replies.append((await sock.recv())[4]["response"]["postgres_changes"])
    first, second = replies
    assert first == second
    assert [{k: v for k, v in entry.items() if k != "id"} for entry in first] == bindings
    ids = [entry["id"] for entry in first]
    assert all(isinstance(i, int) and 0 < i < 2**27 for i in ids)
    assert ids[0] == ids[2] != ids[1]


async def test_realtime_py_accepts_the_binding_echo(stack: RealtimeStack) -> None:
    rt = client(stack)
    states: asyncio.Queue[Any] = asyncio.Queue()
    try:
        channel = rt.channel("room1").on_postgres_changes(
            RealtimePostgresChangesListenEvent.Insert,
            collect(asyncio.Queue()),
            table="todos",
            filter="id=eq.1",
        )
        await channel.subscribe(collect(states))
        assert await next_item(states) == (RealtimeSubscribeStates.SUBSCRIBED, None)
        assert channel.postgres_changes_callbacks[0].id
    finally:
        await rt.close()


async def test_v2_replies_and_pushes_carry_the_join_ref(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send(
            [
                "3",
                "3",
                "realtime:room1",
                "phx_join",
                join_payload(presence={"key": "k", "enabled": True}),
            ]
        )
        assert await sock.recv() == [
            "3",
            "3",
            "realtime:room1",
            "phx_reply",
            {"status": "ok", "response": {"postgres_changes": []}},
        ]
        assert await sock.recv() == ["3", None, "realtime:room1", "presence_state", {}]


async def test_a_duplicate_join_closes_the_old_join_first(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send(["1", "1", "realtime:room1", "phx_join", join_payload()])
        assert (await sock.recv())[3] == "phx_reply"
        await sock.send(["2", "2", "realtime:room1", "phx_join", join_payload()])
        assert await sock.recv() == ["1", "1", "realtime:room1", "phx_close", {}]
        assert (await sock.recv())[:4] == ["2", "2", "realtime:room1", "phx_reply"]


async def test_leaving_replies_ok_then_closes_the_channel(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send(["1", "1", "realtime:room1", "phx_join", join_payload()])
        await sock.recv()
        await sock.send(["1", "2", "realtime:room1", "phx_leave", {}])
        assert await sock.recv() == [
            "1",
            "2",
            "realtime:room1",
            "phx_reply",
            {"status": "ok", "response": {}},
        ]
        assert await sock.recv() == ["1", "1", "realtime:room1", "phx_close", {}]
        await sock.send(["1", "3", "realtime:room1", "phx_leave", {}])  # not joined any more
        assert await sock.recv() == [
            "1",
            "3",
            "realtime:room1",
            "phx_reply",
            {"status": "ok", "response": {}},
        ]


async def test_messages_to_a_topic_not_joined_get_unmatched_topic(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:nope", "broadcast", {"event": "x", "payload": {}}, "5"))
        assert await sock.recv() == {
            "topic": "realtime:nope",
            "event": "phx_reply",
            "payload": {"status": "error", "response": {"reason": "unmatched topic"}},
            "ref": "5",
        }
        await sock.send(v1("room1", "phx_join", join_payload(), "6", "6"))  # no realtime: prefix
        assert (await sock.recv())["payload"]["response"] == {"reason": "unmatched topic"}


async def test_frames_for_an_earlier_join_are_ignored(stack: RealtimeStack) -> None:
    config = join_payload(broadcast={"ack": True, "self": True})
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send(["1", "1", "realtime:room1", "phx_join", config])
        await sock.recv()
        await sock.send(["2", "2", "realtime:room1", "phx_join", config])
        await sock.recv()  # close of join 1
        await sock.recv()  # reply to join 2
        await sock.send(
            [
                "1",
                "3",
                "realtime:room1",
                "broadcast",
                {"type": "broadcast", "event": "e", "payload": {}},
            ]
        )
        assert await sock.silent()
        await sock.send(
            [
                "2",
                "4",
                "realtime:room1",
                "broadcast",
                {"type": "broadcast", "event": "e", "payload": {}},
            ]
        )
        frames = [await sock.recv(), await sock.recv()]
        assert ["2", "4", "realtime:room1", "phx_reply", {"status": "ok", "response": {}}] in frames


async def test_an_empty_topic_name_is_refused(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(v1("realtime:", "phx_join", join_payload(), "1", "1"))
        assert (await sock.recv())["payload"] == {
            "status": "error",
            "response": {"reason": "TopicNameRequired: You must provide a topic name"},
        }


def _token(stack: RealtimeStack, claims: dict[str, Any], secret: str | None = None) -> str:
    return jwt.encode(claims, secret or stack.config.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "secret", "reason"),
    [
        ({"role": "anon", "exp": -50}, None, "InvalidJWTToken: Token expiration time is invalid"),
        ({"role": "anon"}, None, "InvalidJWTToken: Fields `role` and `exp` are required in JWT"),
        (
            {"role": "anon", "exp": 9999999999},
            "y" * 40,
            "JwtSignatureError: Failed to validate JWT signature",
        ),
    ],
)
async def test_a_join_with_a_bad_token_is_refused(
    stack: RealtimeStack, claims: dict[str, Any], secret: str | None, reason: str
) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        payload = {**join_payload(), "access_token": _token(stack, claims, secret)}
        await sock.send(v1("realtime:room1", "phx_join", payload, "1", "1"))
        assert (await sock.recv())["payload"] == {"status": "error", "response": {"reason": reason}}


async def test_a_join_with_an_expired_or_malformed_token_is_refused(stack: RealtimeStack) -> None:
    expired = _token(stack, {"role": "anon", "exp": int(time.time()) - 300})
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:a", "phx_join", {**join_payload(), "access_token": expired}, "1", "1")
        )
        reason = (await sock.recv())["payload"]["response"]["reason"]
        assert reason.startswith("InvalidJWTToken: Token has expired 30")
        assert reason.endswith(" seconds ago")
        await sock.send(
            v1("realtime:b", "phx_join", {**join_payload(), "access_token": "x.y"}, "2", "2")
        )
        assert (await sock.recv())["payload"]["response"] == {
            "reason": "MalformedJWT: The token provided is not a valid JWT"
        }


async def test_an_sb_key_as_access_token_means_the_socket_key(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        payload = {**join_payload(), "access_token": "sb_publishable_whatever"}
        await sock.send(v1("realtime:room1", "phx_join", payload, "1", "1"))
        assert (await sock.recv())["payload"]["status"] == "ok"


async def test_a_socket_may_join_only_as_many_channels_as_the_limit(
    database_url: str, tmp_path: Path
) -> None:
    async with realtime_stack(
        database_url, tmp_path, replace(FAST, max_channels_per_client=2)
    ) as stack:
        rt = client(stack)
        states: asyncio.Queue[Any] = asyncio.Queue()
        try:
            for name in ("a", "b"):
                await rt.channel(name).subscribe(collect(states))
                assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
            await rt.channel("c").subscribe(collect(states))
            state, error = await next_item(states)
            assert state == RealtimeSubscribeStates.CHANNEL_ERROR
            assert "ChannelRateLimitReached: Too many channels" in str(error)
        finally:
            await rt.close()


async def test_a_failed_join_is_answered_after_the_backoff(
    database_url: str, tmp_path: Path
) -> None:
    async with realtime_stack(
        database_url, tmp_path, replace(FAST, channel_error_backoff_seconds=0.5)
    ) as stack:
        async with raw_socket(stack.ws_url()) as sock:
            started = time.monotonic()
            await sock.send(v1("realtime:", "phx_join", join_payload(), "1", "1"))
            assert (await sock.recv())["payload"]["status"] == "error"
            assert time.monotonic() - started >= 0.5
