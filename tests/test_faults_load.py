"""Fault suite, load side: a slow reader among fast ones, and a reconnect storm — through
the real gateway and the embedded stack, checked by `seq`.

Followed: Centrifugo and Supabase Realtime both disconnect a client whose outgoing buffer
fills rather than let it slow others down (Centrifugo's `client_queue_max_size`, Realtime's
per-socket rate limits); RFC 6455 §7.4.1 reserves 1013 "try again later" for a server
that cannot serve the client now (README "Limits": `slow_consumer`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import EmbeddedStack
from tests.fault_rig import fault_rig, record_recovery
from tests.gateway_helpers import (
    Client,
    Gateway,
    User,
    api,
    gateway_config,
    rest_send,
    running_gateway,
)

# Reconnect storm: PAIRS receivers with SOCKETS sockets each (2,000, the figure) drop
# and reconnect at once. A socket the gateway cannot serve yet is closed with 1013 (retry
# later: its start point or catch-up read failed under the storm) and reconnects, as a
# client does.
PAIRS = 100
SOCKETS = 20
STORM_DEADLINE = 90.0


async def cut_off(gw: Gateway) -> bool:
    text = await api(gw, "GET", "/metrics", token=gw.config.server.metrics_token)
    return 'gateway_errors_total{code="slow_consumer"} 1.0' in str(text[1])


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["message"]["seq"] for f in frames if f.get("type") == "message"]


async def test_a_slow_reader_is_cut_off_while_fast_ones_get_everything_and_it_recovers(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """Bob has three devices that read and one that stopped reading; Alice has another
    device open. Alice sends until the stalled device is closed (1013 `slow_consumer`) and
    on: the fast devices get every message in order meanwhile; the stalled one, reading
    what reached it before the cut, reconnects with `since_seq` and gets the rest — a gap
    longer than its whole queue, which the catch-up offers no faster than it reads
    (before: the catch-up filled the queue at once and cut the reader off again)."""
    config = gateway_config(embedded, limits={"ws_queue_max": 8, "send_rate": 0})
    big = "\N{SPEECH BALLOON}" * 4000  # 16 KB a frame: the kernel's buffers fill soon
    async with running_gateway(config, embedded) as gw, aiohttp.ClientSession() as http:

        async def device(user: User, peer: User, since: int | None = None) -> Client:
            query = {"token": user.token} | ({} if since is None else {"since_seq": str(since)})
            client = Client(await http.ws_connect(f"{gw.ws_url}/ws/{peer.id}", params=query))
            await client.ready()
            return client

        stalled = await http.ws_connect(f"{gw.ws_url}/ws/{alice.id}", params={"token": bob.token})
        fast = [await device(bob, alice) for _ in range(3)] + [await device(alice, bob)]
        sent = 0
        while not (sent % 10 == 0 and sent and await cut_off(gw)):
            assert sent < 1000, "the stalled socket was never cut off"
            await rest_send(gw, alice, bob, big)
            sent += 1
        for _ in range(10):  # and on, after the cut
            await rest_send(gw, alice, bob, big)
            sent += 1
        for client in fast:
            got = [m["seq"] for m in await client.messages(sent)]
            assert got == list(range(1, sent + 1))

        before: list[int] = []
        async with asyncio.timeout(30):
            async for msg in stalled:  # what reached it before the cut, then the close
                if msg.type == aiohttp.WSMsgType.TEXT and msg.json()["type"] == "message":
                    before.append(msg.json()["message"]["seq"])
        assert stalled.close_code == 1013
        assert before == list(range(1, len(before) + 1)) and len(before) < sent
        gap = sent - len(before)
        assert gap > 8  # more than the socket's whole queue
        again = await device(bob, alice, since=before[-1] if before else 0)
        rest = [m["seq"] for m in await again.messages(gap)]
        assert before + rest == list(range(1, sent + 1))
        await again.nothing("message")
        for client in [*fast, again]:
            await client.close()


async def _sockets(
    ws_url: str, http: aiohttp.ClientSession, pairs: list[tuple[User, User]], since: int | None
) -> list[Client]:
    """SOCKETS sockets per receiver, all opened at once; each once `ready`."""

    async def one(receiver: User, sender: User) -> Client:
        query = {"token": receiver.token} | ({} if since is None else {"since_seq": str(since)})
        while True:
            try:
                ws = await http.ws_connect(f"{ws_url}/ws/{sender.id}", params=query)
            except aiohttp.WSServerHandshakeError as refused:
                assert refused.status == 503, refused  # upstream_unavailable: retry later
                continue
            client = Client(ws)
            await client.ready(STORM_DEADLINE)
            if client.live.is_set():
                return client
            assert ws.close_code == 1013, ws.close_code  # retry later, and nothing else
            await client.close()

    return await asyncio.gather(*(one(r, s) for s, r in pairs for _ in range(SOCKETS)))


async def test_a_reconnect_storm_comes_back_whole_and_misses_nothing(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """PAIRS * SOCKETS sockets drop at once (their TCP connections closed, no close
    frame) while messages keep coming, and all reconnect at once with `since_seq`: every
    socket is live again and has every message after its `since_seq`, in order, once.
    The gateway and the embedded stack run as their own processes (tests/fault_rig.py)."""

    async def send_all(text: str) -> None:
        answers = await asyncio.gather(*(rig.rest_send(s, r, text) for s, r in pairs))
        assert all(status == 201 for status, _ in answers), answers

    settings = {"GATEWAY_LIMITS_WS_SOCKETS_PER_USER": str(SOCKETS)}
    async with fault_rig(tmp_path, **settings) as rig:
        users = [await rig.user() for _ in range(2 * PAIRS)]
        pairs = [(users[2 * i], users[2 * i + 1]) for i in range(PAIRS)]
        ws_url = rig.gateway_url.replace("http", "ws", 1)
        first = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        clients = await _sockets(ws_url, first, pairs, None)
        await send_all("before")
        for client in clients:
            assert seqs([await client.next("message")]) == [1]

        dropped = time.monotonic()
        await first.close()  # every socket's TCP connection at once
        await asyncio.gather(*(c.closed.wait() for c in clients))
        await send_all("while away")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as second:
            storm = asyncio.ensure_future(_sockets(ws_url, second, pairs, 1))
            await send_all("during the storm")
            clients = await asyncio.wait_for(storm, STORM_DEADLINE)
            for client in clients:
                got = [m["seq"] for m in await client.messages(2, STORM_DEADLINE)]
                assert got == [2, 3]
            recovered = time.monotonic() - dropped
            await send_all("after")
            for client in clients:
                assert seqs([await client.next("message")]) == [4]
            await clients[0].nothing("message")  # then no socket has one more
            for client in clients:
                while not client.frames.empty():
                    assert client.frames.get_nowait().get("type") != "message"
                await client.close()
    record_recovery(
        tmp_path_factory.getbasetemp(),
        "reconnect_storm",
        recovered,
        sockets=PAIRS * SOCKETS,
        users=2 * PAIRS,
        measures="drop to every socket live with the messages it missed",
    )
