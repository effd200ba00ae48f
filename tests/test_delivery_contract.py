"""The delivery contract, tried as a client would: every message committed after the
client saw its socket's upgrade answer (or its auth answer) reaches that socket, live or
recovered, in order, exactly once, whether or not the client waits for `ready`.

Hundreds of trials with a random 0-20 ms pause between the answer and the peer's send,
for a user's first socket on a chat with history, a brand-new user, a second device, and
a first socket while the Data API answers slowly. (Before the delivery core v2 a first
socket missed the message in 5 of 6 such trials.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Client,
    Gateway,
    User,
    admin_user,
    connect,
    gateway_config,
    rest_send,
    running_gateway,
)
from tests.proxy_helpers import START_POINTS_PATH, holding_proxy

WAIT = 10.0
# Trials send and connect back to back, far faster than a person (README "Limits").
UNLIMITED = {"send_rate": 0, "ws_handshake_rate": 0}


@pytest.fixture
async def gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_config(embedded, limits=UNLIMITED), embedded) as gw:
        yield gw


async def _receives_exactly(client: Client, seq: int, before: list[int]) -> None:
    """The socket's message frames, up to and including `seq`: strictly increasing, each
    once, and `seq` among them (frames may include messages committed just before)."""
    got: list[int] = []
    while seq not in got:
        message: dict[str, Any] = (await client.next("message", timeout=WAIT))["message"]
        got.append(message["seq"])
    seen = before + got
    assert seen == sorted(set(seen)), f"out of order or doubled: {seen}"


async def _trial(
    gw: Gateway, me: User, peer: User, pause: float, *, auth_frame: bool = False
) -> None:
    """Open my socket to `peer`, pause, let `peer` send: my socket must get it once."""
    async with aiohttp.ClientSession() as http:
        if auth_frame:
            ws = await http.ws_connect(f"{gw.ws_url}/ws/{peer.id}")
            await ws.send_json({"type": "auth", "token": me.token})
        else:
            ws = await http.ws_connect(f"{gw.ws_url}/ws/{peer.id}", params={"token": me.token})
        client = Client(ws)
        try:
            await asyncio.sleep(pause)  # the trial's random client timing, not a wait
            seq = (await rest_send(gw, peer, me, "now"))["seq"]
            await _receives_exactly(client, seq, [])
        finally:
            await client.close()


async def test_a_first_socket_on_a_chat_with_history_gets_what_is_sent_right_after(
    gateway: Gateway, alice: User, bob: User
) -> None:
    rng = random.Random(11)
    (await rest_send(gateway, alice, bob, "history"))["seq"]
    for n in range(120):
        await _trial(gateway, bob, alice, rng.uniform(0, 0.02), auth_frame=n % 4 == 3)


async def test_a_brand_new_user_gets_what_is_sent_right_after_their_first_connect(
    gateway: Gateway, embedded: EmbeddedStack, alice: User
) -> None:
    rng = random.Random(12)
    for _ in range(30):
        newcomer = await admin_user(embedded)  # sign-ups are rate-limited, as on Supabase
        await _trial(gateway, newcomer, alice, rng.uniform(0, 0.02))


async def test_a_second_device_gets_what_is_sent_right_after_it_connects(
    gateway: Gateway, alice: User, bob: User
) -> None:
    rng = random.Random(13)
    (await rest_send(gateway, alice, bob, "history"))["seq"]
    async with connect(gateway, f"/ws/{alice.id}", token=bob.token) as first:
        for _ in range(100):
            await _trial(gateway, bob, alice, rng.uniform(0, 0.02))
        # The first device saw every one of them too, in order, once.
        frames = [(await first.next("message"))["message"]["seq"] for _ in range(100)]
        assert frames == list(range(2, 102))


async def test_a_first_socket_gets_what_is_sent_right_after_while_reads_are_slow(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    rng = random.Random(14)
    async with holding_proxy(embedded.url) as proxy:
        config = gateway_config(embedded, supabase={"url": proxy.url}, limits=UNLIMITED)
        async with running_gateway(config, embedded) as gw:
            (await rest_send(gw, alice, bob, "history"))["seq"]
            proxy.slow(START_POINTS_PATH, 0.05)
            for _ in range(40):
                await _trial(gw, bob, alice, rng.uniform(0, 0.02))
