"""Two gateways behind nginx (`ops/nginx/gateway.conf`, Debian's nginx) on one embedded
stack: clients spread over both, one gateway stops mid-conversation, its clients come back
through nginx to the other with `since_seq`, and nothing is lost or doubled.

Followed: nginx's WebSocket proxying guide (Upgrade/Connection passed on,
`proxy_http_version 1.1`, `proxy_read_timeout` above the application's heartbeat) and
`proxy_next_upstream error` (a refused connect goes to the next server); the gateway's
contract in README "Ordering and recovery" and "Running several gateways".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from gateway.api.admission import admission_key
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    WAIT,
    Client,
    Gateway,
    User,
    api,
    gateway_config,
    rest_send,
    running_gateway,
    sign_up,
)
from tests.nginx_helpers import running_nginx

PAIRS = 4  # a sender and a receiver each: 8 sockets over 2 gateways
BEFORE, DURING = 3, 6  # messages per pair before the stop, and sent while it happens
PRESENCE_WAIT = 20.0  # presence is batched (at most one update per 6.5 s per channel)
GOING_AWAY = 1001


@asynccontextmanager
async def through(base: str, path: str, token: str, since_seq: int) -> AsyncIterator[Client]:
    """A socket through nginx, resuming after `since_seq`, once it is live."""
    params = {"token": token, "since_seq": str(since_seq)}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(base.replace("http", "ws", 1) + path, params=params)
        client = Client(ws)
        try:
            await client.ready()
            yield client
        finally:
            await client.close()


class Side:
    """One user's view of a chat through nginx, across reconnects: the seqs it saw."""

    def __init__(self, base: str, user: User, peer: User, since_seq: int) -> None:
        self.base, self.user, self.peer = base, user, peer
        self.last = since_seq
        self.seen: list[int] = []  # every `message` frame's seq, in arrival order
        self.acked: dict[str, int] = {}  # client_msg_id → seq
        self.reconnects = 0
        self._stack = AsyncExitStack()
        self.client: Client | None = None

    async def open(self) -> None:
        path = f"/ws/{self.peer.id}"
        self.client = await self._stack.enter_async_context(
            through(self.base, path, self.user.token, self.last)
        )

    async def reopen(self) -> None:
        """The gateway went away (1001): reconnect through nginx after the last seq seen."""
        assert self.client is not None
        assert await self.client.wait_closed() == GOING_AWAY
        await self._stack.aclose()
        self._stack = AsyncExitStack()
        self.reconnects += 1
        await self.open()

    async def send(self, client_msg_id: str, text: str) -> None:
        """Send until acknowledged; a send cut off by the stop is retried by its id."""
        while True:
            assert self.client is not None
            frame = {"type": "chat", "message": text, "client_msg_id": client_msg_id}
            try:
                await self.client.send(frame)
                ack = await self._next("ack")
            except (ConnectionResetError, TimeoutError):
                await self.reopen()
                continue
            if ack is None:
                await self.reopen()
                continue
            self.acked[client_msg_id] = ack["message"]["seq"]
            self.last = max(self.last, ack["message"]["seq"])
            return

    async def receive(self, until_seq: int) -> None:
        while self.last < until_seq:
            frame = await self._next("message")
            if frame is None:
                await self.reopen()
                continue
            seq = frame["message"]["seq"]
            self.seen.append(seq)
            self.last = seq

    async def _next(self, kind: str) -> dict[str, Any] | None:
        """The next `kind` frame, or None once the gateway closed the socket."""
        assert self.client is not None
        frame_task = asyncio.ensure_future(self.client.next(kind, timeout=WAIT * 3))
        closed = asyncio.ensure_future(self.client.closed.wait())
        done, _ = await asyncio.wait({frame_task, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if frame_task in done:
            return frame_task.result()
        frame_task.cancel()
        try:  # frames that came before the close still count
            return await self.client.next(kind, timeout=0.05)
        except TimeoutError:
            return None

    async def aclose(self) -> None:
        await self._stack.aclose()


async def online_on(gw: Gateway, viewer: User, users: set[str]) -> set[str]:
    """/api/online-users once it lists `users` (presence travels through Realtime)."""

    async def poll() -> set[str]:
        while True:
            status, answer = await api(gw, "GET", "/api/online-users", token=viewer.token)
            assert status == 200, answer
            online = set(answer["online_users"])
            if users <= online:
                return online
            await asyncio.sleep(0.2)  # presence is batched: no event to wait on over HTTP

    return await asyncio.wait_for(poll(), PRESENCE_WAIT)


async def test_a_stopped_gateways_clients_resume_through_nginx_on_the_other_losing_nothing(
    embedded: EmbeddedStack, tmp_path: Path
) -> None:
    pairs = [(await sign_up(embedded), await sign_up(embedded)) for _ in range(PAIRS)]
    everyone = {user.id for pair in pairs for user in pair}
    gateways = [AsyncExitStack(), AsyncExitStack()]
    try:
        # Everyone may see everyone online: the test compares both gateways' whole lists.
        config = gateway_config(embedded, delivery={"presence_visibility": "everyone"})
        one, two = [
            await stack.enter_async_context(running_gateway(config, embedded)) for stack in gateways
        ]
        upstreams = [gw.url.removeprefix("http://") for gw in (one, two)]
        async with running_nginx(tmp_path / "nginx", upstreams) as base:
            # Each pair has talked before: seq 1 is there, the sockets start after it.
            for sender, receiver in pairs:
                await rest_send(one, sender, receiver, "hello")
            senders = [Side(base, a, b, since_seq=1) for a, b in pairs]
            receivers = [Side(base, b, a, since_seq=1) for a, b in pairs]
            for side in (*senders, *receivers):
                await side.open()
            # nginx spread the sockets over both gateways.
            open_on = [gw.runner.app[admission_key].open for gw in (one, two)]
            assert sum(open_on) == 2 * PAIRS and min(open_on) > 0, open_on
            # Both gateways agree on who is online.
            assert await online_on(one, pairs[0][0], everyone) == await online_on(
                two, pairs[0][0], everyone
            )

            async def converse(sender: Side, receiver: Side) -> None:
                total = 1 + BEFORE + DURING
                reading = asyncio.create_task(receiver.receive(until_seq=total))
                for i in range(BEFORE + DURING):
                    if i == BEFORE:
                        stop_now.set()
                        await stopped.wait()  # the rest is sent after the stop began
                    await sender.send(f"m{i}", f"message {i}")
                await asyncio.wait_for(reading, WAIT * 3)

            stop_now, stopped = asyncio.Event(), asyncio.Event()
            talks = [
                asyncio.create_task(converse(s, r)) for s, r in zip(senders, receivers, strict=True)
            ]
            await asyncio.wait_for(stop_now.wait(), WAIT)
            stopping = asyncio.create_task(gateways[0].aclose())  # gateway one stops
            stopped.set()
            await asyncio.wait_for(asyncio.gather(*talks), WAIT * 6)
            await stopping

            total = 1 + BEFORE + DURING
            moved = [side for side in (*senders, *receivers) if side.reconnects]
            assert moved and len(moved) < 2 * PAIRS  # only gateway one's clients moved
            for sending, receiving in zip(senders, receivers, strict=True):
                # The receiver saw every message after seq 1 exactly once, in order.
                assert receiving.seen == list(range(2, total + 1)), receiving.seen
                # Each send was stored once, whatever the retries.
                assert sorted(sending.acked.values()) == list(range(2, total + 1))
                status, history = await api(
                    two,
                    "GET",
                    f"/api/chat/{receiving.user.id}/messages",
                    token=sending.user.token,
                )
                assert status == 200
                assert [m["seq"] for m in history["messages"]] == list(range(1, total + 1))
            # Everyone is online again, now all on gateway two.
            assert everyone <= await online_on(two, pairs[0][0], everyone)
            for side in (*senders, *receivers):
                await side.aclose()
    finally:
        for stack in gateways:
            await stack.aclose()
