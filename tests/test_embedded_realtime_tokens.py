"""A channel's token over time: expiry closes it, access_token refreshes and re-authorizes it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from realtime import RealtimeSubscribeStates

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
    run_sql,
    user_token,
    v1,
)

PRIVATE = options(private=True)


def system_error(topic: str, message: str) -> dict[str, Any]:
    return {
        "topic": f"realtime:{topic}",
        "event": "system",
        "payload": {"extension": "system", "status": "error", "message": message, "channel": topic},
        "ref": None,
    }


async def test_an_expiring_token_closes_the_channel(stack: RealtimeStack) -> None:
    _, token = await create_user(stack, ttl=2)
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:room", "phx_join", {**join_payload(), "access_token": token}, "1", "1")
        )
        assert (await sock.recv())["payload"]["status"] == "ok"
        assert await sock.recv(within=5) == system_error("room", "Token has expired 0 seconds ago")
        assert await sock.recv() == {
            "topic": "realtime:room",
            "event": "phx_close",
            "payload": {},
            "ref": "1",
        }


async def test_realtime_py_sees_the_expiry_as_error_then_closed(stack: RealtimeStack) -> None:
    _, token = await create_user(stack, ttl=2)
    rt = client(stack, token)
    states: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await rt.channel("room").subscribe(collect(states))
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
        state, error = await next_item(states)
        assert state == RealtimeSubscribeStates.CHANNEL_ERROR
        assert "Token has expired" in str(error)
        assert (await next_item(states))[0] == RealtimeSubscribeStates.CLOSED
    finally:
        await rt.close()


async def test_an_access_token_is_ignored_when_unchanged_or_an_sb_key(stack: RealtimeStack) -> None:
    _, token = await create_user(stack)
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:room", "phx_join", {**join_payload(), "access_token": token}, "1", "1")
        )
        await sock.recv()
        for value in (token, "sb_publishable_x", None):
            await sock.send(v1("realtime:room", "access_token", {"access_token": value}, "2", "1"))
        assert await sock.silent()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not-a-jwt", "The token provided is not a valid JWT"),
        ("expired", "Token has expired"),
    ],
)
async def test_a_bad_access_token_closes_the_channel(
    stack: RealtimeStack, bad: str, message: str
) -> None:
    uid, token = await create_user(stack)
    new = user_token(stack, uid, ttl=-30) if bad == "expired" else bad
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:room", "phx_join", {**join_payload(), "access_token": token}, "1", "1")
        )
        await sock.recv()
        await sock.send(v1("realtime:room", "access_token", {"access_token": new}, "2", "1"))
        frame = await sock.recv()
        assert frame["event"] == "system"
        assert frame["payload"]["message"].startswith(message)
        assert (await sock.recv())["event"] == "phx_close"


async def test_a_token_of_another_user_loses_the_private_channel(stack: RealtimeStack) -> None:
    uid, token = await create_user(stack)
    _, stranger = await create_user(stack)
    async with raw_socket(stack.ws_url()) as sock:
        topic = f"user:{uid}"
        await sock.send(
            v1(
                f"realtime:{topic}",
                "phx_join",
                {**join_payload(private=True), "access_token": token},
                "1",
                "1",
            )
        )
        assert (await sock.recv())["payload"]["status"] == "ok"
        await sock.send(
            v1(
                f"realtime:{topic}",
                "access_token",
                {"access_token": user_token(stack, uid)},
                "2",
                "1",
            )
        )
        assert await sock.silent()  # same user, fresh token: still allowed
        await sock.send(
            v1(f"realtime:{topic}", "access_token", {"access_token": stranger}, "3", "1")
        )
        assert await sock.recv() == system_error(
            topic, f"You do not have permissions to read from this Channel topic: {topic}"
        )
        assert (await sock.recv())["event"] == "phx_close"


async def test_losing_one_read_permission_closes_the_channel(stack: RealtimeStack) -> None:
    host, host_token = await create_user(stack)
    _, guest_token = await create_user(stack)
    await run_sql(
        stack,
        f"""
        create policy "everyone reads broadcasts of stage" on realtime.messages for select
          to authenticated using (topic = 'stage' and extension = 'broadcast');
        create policy "the host reads presence of stage" on realtime.messages for select
          to authenticated using (topic = 'stage' and extension = 'presence'
                                  and (select auth.uid()) = '{host}');
        """,
    )
    config = join_payload(private=True, presence={"key": "h", "enabled": True})
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:stage", "phx_join", {**config, "access_token": host_token}, "1", "1")
        )
        assert (await sock.recv())["payload"]["status"] == "ok"
        assert (await sock.recv())["event"] == "presence_state"
        await sock.send(
            v1("realtime:stage", "access_token", {"access_token": guest_token}, "2", "1")
        )
        assert await sock.recv() == system_error(
            "stage", "You no longer have permission to read from this Channel topic: stage"
        )
        assert (await sock.recv())["event"] == "phx_close"


async def test_refreshing_the_token_before_expiry_keeps_a_private_channel(
    stack: RealtimeStack,
) -> None:
    uid, token = await create_user(stack, ttl=2)
    rt = client(stack, token)
    states: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await rt.channel(f"user:{uid}", PRIVATE).subscribe(collect(states))
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
        await rt.set_auth(user_token(stack, uid, ttl=3600))
        assert await nothing_arrives(states, within=3.5)
    finally:
        await rt.close()
