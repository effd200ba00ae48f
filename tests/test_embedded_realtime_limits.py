"""Supabase Realtime's tenant quotas on the embedded server, with Supabase's errors
(supabase/realtime: `realtime_channel.ex` join's `limit_max_users`/`limit_joins` and
`handle_info(:update_rate_counter)`, `user_socket.ex` + `tenant_rate_limiters.ex` at the
upgrade, `presence_handler.ex` `validate_payload_size`/`limit_presence_event`,
`message_dispatcher.ex`, `tenants/{single,batch}_broadcast.ex` `check_rate_limit`,
`rate_counter.ex`). Defaults are the Free plan's (docs guides/realtime/limits). Acceptance
tests use small quotas and a short rate tick; a burst is refused from the first tick on,
so each test sends until the refusal arrives, within a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import EmbeddedConfig
from gateway.embedded.realtime import RealtimeSettings
from gateway.embedded.realtime.rate_counter import RateCounter
from tests.realtime_helpers import (
    DEADLINE,
    FAST,
    RawSocket,
    RealtimeStack,
    join_payload,
    raw_socket,
    realtime_stack,
    v1,
)

TICK = 0.2  # a 12-tick window of 2.4 s: a burst stays tripped while a test looks at it
QUOTAS = replace(
    FAST,
    rate_tick_seconds=TICK,
    max_channels_per_client=100_000,
    presence_max_calls=100_000,
    max_concurrent_users=2,
    max_joins_per_second=1,
    max_events_per_second=1,
    max_presence_events_per_second=1,
)


@pytest.fixture
async def quota_stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    async with realtime_stack(database_url, tmp_path, QUOTAS) as stack:
        yield stack


async def until_event(sock: RawSocket, event: str, topic: str | None = None) -> dict[str, Any]:
    """The next frame with this event (and topic), skipping others."""
    async with asyncio.timeout(DEADLINE):
        while True:
            frame = await sock.recv()
            if frame["event"] == event and topic in (None, frame["topic"]):
                return dict(frame)


async def join(sock: RawSocket, topic: str, ref: str, **config: Any) -> dict[str, Any]:
    await sock.send(v1(f"realtime:{topic}", "phx_join", join_payload(**config), ref, ref))
    reply = await until_event(sock, "phx_reply", f"realtime:{topic}")
    return dict(reply["payload"])


async def upgrade_status(stack: RealtimeStack) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(stack.ws_url())
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status, refused.message
        await ws.close()
        return 101, None


async def refused_upgrade_body(stack: RealtimeStack) -> tuple[int, Any]:
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.ws_url().replace("ws", "http", 1), headers=headers) as r:
            body = await r.json() if r.content_type == "application/json" else None
            return r.status, body


# Payload size ----------------------------------------------------------------------------


async def test_a_presence_meta_over_the_free_plans_256_kb_closes_the_channel(
    stack: RealtimeStack,
) -> None:
    assert stack.hub.settings.max_payload_size_kb == 256
    async with raw_socket(stack.ws_url()) as sock:
        presence = {"key": "k", "enabled": True}
        assert (await join(sock, "room", "1", presence=presence))["status"] == "ok"
        fits = {"event": "track", "payload": {"blob": "x" * 250_000}}
        await sock.send(v1("realtime:room", "presence", fits, "2", "1"))
        assert (await until_event(sock, "phx_reply"))["payload"]["status"] == "ok"
        big = {"event": "track", "payload": {"blob": "y" * 300_000}}  # 2.8 MB got through
        await sock.send(v1("realtime:room", "presence", big, "3", "1"))
        system = await until_event(sock, "system")
        assert system["payload"]["message"] == "Track message size exceeded"
        assert (await until_event(sock, "phx_close"))["topic"] == "realtime:room"
    assert stack.hub.presence.state((False, "room")) == {}


async def test_a_broadcast_over_256_kb_is_refused(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        assert (await join(sock, "room", "1", broadcast={"ack": True}))["status"] == "ok"
        big = {"type": "broadcast", "event": "e", "payload": {"blob": "x" * 300_000}}
        await sock.send(v1("realtime:room", "broadcast", big, "2", "1"))
        reply = await until_event(sock, "phx_reply")
    assert reply["payload"] == {"status": "error", "response": "payload_size_exceeded"}


# Concurrent users ------------------------------------------------------------------------


async def test_sockets_past_the_concurrent_users_quota_are_refused(
    quota_stack: RealtimeStack,
) -> None:
    stack = quota_stack
    async with (
        raw_socket(stack.ws_url()) as first,
        raw_socket(stack.ws_url()) as idle,  # connected, never joined: not a user yet
        raw_socket(stack.ws_url()) as second,
    ):
        assert (await join(first, "a", "1"))["status"] == "ok"
        assert (await join(second, "b", "1"))["status"] == "ok"
        assert await refused_upgrade_body(stack) == (429, {"error": "Too many connected users"})
        refused = await join(idle, "c", "1")
        assert refused == {
            "status": "error",
            "response": {"reason": "ConnectionRateLimitReached: Too many connected users"},
        }
        assert (await join(first, "d", "2"))["status"] == "ok"  # a counted socket may go on
    async with asyncio.timeout(DEADLINE):  # their sockets closed: room again
        while (await upgrade_status(stack))[0] != 101:
            pass


# Joins per second ------------------------------------------------------------------------


async def test_a_join_storm_is_refused_and_the_socket_disconnected(
    quota_stack: RealtimeStack,
) -> None:
    stack = quota_stack
    async with raw_socket(stack.ws_url()) as sock:
        async with asyncio.timeout(DEADLINE):
            n = 0
            while (reply := await join(sock, f"t{n}", str(n)))["status"] == "ok":
                n += 1
        assert reply["response"] == {
            "reason": "ClientJoinRateLimitReached: Too many joins per second"
        }
        closing = await sock.ws.receive(timeout=DEADLINE)
        assert closing.type == aiohttp.WSMsgType.CLOSE
    assert await refused_upgrade_body(stack) == (429, {"error": "Too many joins per second"})


# Messages per second ---------------------------------------------------------------------


async def test_channels_receiving_past_the_messages_quota_are_shut_down(
    quota_stack: RealtimeStack,
) -> None:
    stack = quota_stack
    async with raw_socket(stack.ws_url()) as sender, raw_socket(stack.ws_url()) as listener:
        assert (await join(sender, "room", "1"))["status"] == "ok"
        assert (await join(listener, "room", "1"))["status"] == "ok"
        message = {"type": "broadcast", "event": "e", "payload": {"n": 1}}
        async with asyncio.timeout(DEADLINE):
            while True:
                await sender.send(v1("realtime:room", "broadcast", message, None, "1"))
                frame = await listener.recv()
                if frame["event"] == "system":
                    break
        assert frame["payload"] == {
            "extension": "system",
            "status": "error",
            "message": "Too many messages per second",
            "channel": "room",
        }
        assert (await until_event(listener, "phx_close"))["topic"] == "realtime:room"
        status, body = await rest_send(stack, "/api/broadcast/room/events/e", {"n": 2})
    assert (status, body) == (429, {"message": "You have exceeded your rate limit"})


async def rest_send(stack: RealtimeStack, path: str, body: Any) -> tuple[int, Any]:
    headers = {"apikey": stack.service_key}
    async with (
        aiohttp.ClientSession() as session,
        session.post(stack.realtime_url + path, json=body, headers=headers) as resp,
    ):
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, payload


async def test_a_rest_batch_larger_than_the_remaining_quota_is_refused(
    quota_stack: RealtimeStack,
) -> None:
    messages = [{"topic": "t", "event": "e", "payload": {"n": n}} for n in range(2)]
    assert await rest_send(quota_stack, "/api/broadcast", {"messages": messages}) == (
        429,
        {"message": "Too many messages to broadcast, please reduce the batch size"},
    )
    assert (await rest_send(quota_stack, "/api/broadcast", {"messages": messages[:1]}))[0] == 202


# Presence messages per second ------------------------------------------------------------


async def test_tracking_past_the_presence_quota_closes_the_channel(
    quota_stack: RealtimeStack,
) -> None:
    async with raw_socket(quota_stack.ws_url()) as sock:
        presence = {"key": "k", "enabled": True}
        assert (await join(sock, "room", "1", presence=presence))["status"] == "ok"
        async with asyncio.timeout(DEADLINE):
            n = 0
            while True:
                n += 1
                track = {"event": "track", "payload": {"n": n}}
                await sock.send(v1("realtime:room", "presence", track, str(n), "1"))
                frame = await sock.recv()
                if frame["event"] == "system":
                    break
        assert frame["payload"]["message"] == "Too many presence messages per second"
        assert (await until_event(sock, "phx_close"))["topic"] == "realtime:room"


# Defaults and the counter ----------------------------------------------------------------


def test_the_defaults_are_supabases_free_plan_quotas() -> None:
    defaults = RealtimeSettings()
    assert RealtimeSettings.from_config(EmbeddedConfig()) == defaults
    assert (
        defaults.max_payload_size_kb,
        defaults.max_concurrent_users,
        defaults.max_joins_per_second,
        defaults.max_events_per_second,
        defaults.max_presence_events_per_second,
        defaults.max_channels_per_client,
        defaults.presence_max_calls,
        defaults.presence_window_seconds,
    ) == (256, 200, 100, 100, 20, 100, 5, 30.0)
    # RateCounter: 5 s ticks, averaged over 12 of them, stopped after 5 idle minutes.
    assert (defaults.rate_tick_seconds, defaults.rate_buckets) == (5.0, 12)
    assert defaults.rate_idle_seconds == 300.0
    assert defaults.max_payload_bytes == 256_500  # Supabase adds 500 bytes of padding


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counter(clock: FakeClock, limit: float = 10) -> RateCounter:
    return RateCounter(limit, tick_seconds=5, buckets=12, idle_seconds=300, clock=clock)


def test_a_rate_is_averaged_over_the_ticks_seen_and_trips_only_at_a_tick() -> None:
    clock = FakeClock()
    rate = counter(clock)
    rate.add(99)
    assert (rate.avg, rate.triggered) == (0.0, False)  # nothing is summed before a tick
    clock.now += 5
    assert rate.avg == 99 / 2 / 5  # the start's empty tick and this one
    assert rate.triggered is False
    rate.add(101)
    clock.now += 5
    assert rate.avg == 200 / 3 / 5 and rate.triggered is True  # 13.3/s >= 10/s


def test_a_tripped_rate_clears_once_its_average_falls_below_the_limit() -> None:
    clock = FakeClock()
    rate = counter(clock)
    rate.add(200)
    clock.now += 5
    assert rate.triggered  # 200 / 2 / 5 = 20/s
    clock.now += 5
    assert rate.triggered  # 200 / 3 / 5 = 13.3/s
    clock.now += 5
    assert rate.avg == 10.0 and rate.triggered  # the limit itself still trips it
    clock.now += 5
    assert not rate.triggered  # 8/s
    clock.now += 12 * 5  # the burst has left the window
    assert rate.avg == 0.0


def test_an_idle_counter_starts_over() -> None:
    clock = FakeClock()
    rate = counter(clock)
    rate.add(1)
    clock.now += 301
    assert rate.avg == 0.0  # the event's tick has left the window
    clock.now += 300
    rate.add(60)
    clock.now += 5
    assert rate.avg == 60 / 2 / 5  # a fresh counter: two ticks, not twelve


def test_the_bucket_arithmetic_costs_nothing_after_a_long_idle_spell() -> None:
    clock = FakeClock()
    rate = counter(clock)
    clock.now += 10**9
    started = time.perf_counter()
    assert rate.avg == 0.0
    assert time.perf_counter() - started < 0.1
