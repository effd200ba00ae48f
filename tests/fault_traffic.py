"""Traffic that keeps going through faults, and the check of what it left behind.

A `Conversation` is one sender and one receiver, each with a WebSocket of its own on the
gateway, both reconnecting whenever their socket goes: the sender resends its unacked
message with the same `client_msg_id`, the receiver reconnects with `since_seq`. After a
fault, `verify` checks by `seq` that every acknowledged message is stored exactly once and
reached the receiver, in order, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from tests.gateway_helpers import User

RETRY = 0.05  # a client's pause before trying again (the gateway or its upstream is down)
DEADLINE = 60.0  # for anything that must recover


async def _pause(stop: asyncio.Event, seconds: float = RETRY) -> None:
    """A client's backoff: over early when told to stop."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


@dataclass
class Conversation:
    sender: User
    receiver: User
    url: str  # the gateway's ws:// base
    tag: str
    acked: dict[str, int] = field(default_factory=dict)  # client_msg_id -> seq
    sent_ids: list[str] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # error code -> count
    refusal_seconds: list[float] = field(default_factory=list)  # how fast each refusal came
    chat_id: str | None = None
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    stop_sending: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # everything: set last
    receiver_closes: list[int | None] = field(default_factory=list)
    receiver_dropped: asyncio.Event = field(default_factory=asyncio.Event)
    resends: int = 0  # a message sent again (same client_msg_id) after its socket went

    def last_seq(self) -> int:
        return self.received[-1] if self.received else 0

    async def _socket(
        self, http: aiohttp.ClientSession, user: User, peer: User, since: int | None
    ) -> aiohttp.ClientWebSocketResponse | None:
        query = {"token": user.token} | ({} if since is None else {"since_seq": str(since)})
        try:
            return await http.ws_connect(f"{self.url}/ws/{peer.id}", params=query, heartbeat=None)
        except (aiohttp.ClientError, OSError):
            return None  # the gateway is down or answered 503: try again

    async def send_loop(self) -> None:
        n = 0
        async with aiohttp.ClientSession() as http:
            ws: aiohttp.ClientWebSocketResponse | None = None
            # Once told to stop, only until the message in hand is acked: every message
            # stored is then acked, and the receiver's target is the last ack.
            while not (self.stop_sending.is_set() and len(self.sent_ids) == len(self.acked)):
                if ws is None or ws.closed:
                    ws = await self._socket(http, self.sender, self.receiver, None)
                    if ws is None:
                        await _pause(self.stop)
                        continue
                if len(self.sent_ids) == len(self.acked):
                    n += 1
                    self.sent_ids.append(f"{self.tag}-{n}")
                else:
                    self.resends += 1
                pending = self.sent_ids[-1]  # resent as is until acked
                began = time.monotonic()
                frame = {"type": "chat", "message": f"m {pending}", "client_msg_id": pending}
                try:
                    await ws.send_str(json.dumps(frame))
                    answer = await self._answer(ws)
                except (ConnectionError, RuntimeError, TimeoutError):
                    answer = None
                if answer is None:
                    await ws.close()
                    continue
                if answer["type"] == "ack":
                    self.acked[pending] = answer["message"]["seq"]
                    self.chat_id = answer["message"]["chat_id"]
                    self.progress.set()
                else:
                    code = answer["code"]
                    self.refusals[code] = self.refusals.get(code, 0) + 1
                    self.refusal_seconds.append(time.monotonic() - began)
                    await _pause(self.stop)
            if ws is not None:
                await ws.close()

    @staticmethod
    async def _answer(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any] | None:
        """The ack or error for the frame just sent; None if the socket went."""
        while True:
            msg = await asyncio.wait_for(ws.receive(), DEADLINE)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return None
            frame: dict[str, Any] = json.loads(msg.data)
            if frame["type"] in ("ack", "error"):
                return frame

    async def receive_loop(self) -> None:
        async with aiohttp.ClientSession() as http:
            while not self.stop.is_set():
                ws = await self._socket(http, self.receiver, self.sender, self.last_seq())
                if ws is None:
                    await _pause(self.stop)
                    continue
                stopping = asyncio.ensure_future(self.stop.wait())
                try:
                    while True:
                        read = asyncio.ensure_future(ws.receive())
                        await asyncio.wait({read, stopping}, return_when=asyncio.FIRST_COMPLETED)
                        if not read.done():
                            read.cancel()
                            break
                        msg = read.result()
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            self.receiver_closes.append(ws.close_code)
                            self.receiver_dropped.set()
                            break
                        frame = json.loads(msg.data)
                        if frame["type"] == "message":
                            self.received.append(frame["message"]["seq"])
                            self.progress.set()
                finally:
                    stopping.cancel()
                    await ws.close()


class Traffic:
    """Conversations running their loops until `finish`."""

    def __init__(self, conversations: list[Conversation]) -> None:
        self.conversations = conversations
        self._tasks = [
            asyncio.create_task(loop())
            for c in conversations
            for loop in (c.send_loop, c.receive_loop)
        ]

    def acked(self) -> int:
        return sum(len(c.acked) for c in self.conversations)

    async def until_acked(self, each: int, timeout: float = DEADLINE) -> float:
        """Until every conversation has `each` more acks than now; seconds it took."""
        began = time.monotonic()
        targets = [(c, len(c.acked) + each) for c in self.conversations]

        async def wait() -> None:
            for c, target in targets:
                while len(c.acked) < target:
                    c.progress.clear()
                    await c.progress.wait()

        await asyncio.wait_for(wait(), timeout)
        return time.monotonic() - began

    async def finish(self, timeout: float = DEADLINE) -> None:
        """Stop sending; wait until each receiver has every acked message; stop."""
        for c in self.conversations:
            c.stop_sending.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks[0::2]), timeout)

        async def caught_up(c: Conversation) -> None:
            top = max(c.acked.values(), default=0)
            while c.last_seq() < top:
                c.progress.clear()
                await c.progress.wait()

        await asyncio.wait_for(asyncio.gather(*(caught_up(c) for c in self.conversations)), timeout)
        for c in self.conversations:
            c.stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks[1::2]), timeout)


async def verify(database_url: str, conversations: list[Conversation]) -> int:
    """Every acked message stored once under its seq; receivers got 1..n in order, each
    once; nothing stored that no sender sent. Returns the number of messages checked."""
    conn = await asyncpg.connect(database_url)
    try:
        total = 0
        for c in conversations:
            assert c.chat_id is not None and c.acked
            rows = await conn.fetch(
                "select seq, client_msg_id from public.messages where chat_id = $1 order by seq",
                c.chat_id,
            )
            stored = {row["client_msg_id"]: row["seq"] for row in rows}
            assert len(stored) == len(rows), "a client_msg_id stored twice"
            assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
            assert set(stored) <= set(c.sent_ids), "stored what nobody sent"
            for cmid, seq in c.acked.items():
                assert stored.get(cmid) == seq, f"acked {cmid} as seq {seq}, stored {stored}"
            assert c.received == list(range(1, len(rows) + 1)), (c.tag, c.received)
            total += len(rows)
        return total
    finally:
        await conn.close()
