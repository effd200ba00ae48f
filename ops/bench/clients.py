"""One benchmark socket (one user), and the worker-wide record of what was sent, acked
and received, which also tells when every acked message has reached every recipient.

Timestamps are `time.monotonic()` (CLOCK_MONOTONIC, shared by every process on the machine;
not `loop.time()`, which uvloop keeps in whole milliseconds).
Each message carries its scheduled and actual send time in `client_msg_id`
(`<run>.<sender>.<n>.<scheduled µs>.<sent µs>`), so any receiver can compute latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from ops.bench.wire import WireSocket, open_socket

Key = tuple[int, str, int]  # (recipient user index, chat id, seq)


async def read_json_frames(
    ws: aiohttp.ClientWebSocketResponse, on_frame: Callable[[dict[str, Any], float], None]
) -> None:
    """Hand each text frame, parsed, to `on_frame` with its receive time, until closed."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            on_frame(json.loads(msg.data), time.monotonic())


@dataclass(slots=True)
class Sent:
    cmid: str
    sender: int
    sched: float
    sent: float
    ack_at: float | None = None
    chat_id: str | None = None
    seq: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Received:
    user: int  # the receiving socket's user index
    chat_id: str
    seq: int
    cmid: str | None
    at: float


def micros(t: float) -> int:
    return round(t * 1e6)


def make_cmid(run_id: str, sender: int, n: int, sched: float, sent: float) -> str:
    return f"{run_id}.{sender}.{n}.{micros(sched)}.{micros(sent)}"


def cmid_times(cmid: str | None) -> tuple[int, int] | None:
    """(scheduled, sent) in µs from a benchmark client_msg_id; None for anything else."""
    parts = cmid.split(".") if cmid else []
    if len(parts) != 5:
        return None
    try:
        return int(parts[3]), int(parts[4])
    except ValueError:
        return None


@dataclass
class Tally:
    """Everything a worker's sockets saw. `settled` is set once every send is answered and
    every acked message has reached each recipient socket at least once."""

    members: dict[str, tuple[int, ...]]  # chat id → user indexes
    sent: dict[str, Sent] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    acks: list[tuple[int, str, int]] = field(default_factory=list)  # (user, chat, seq) own acks
    errors: Counter[str] = field(default_factory=Counter)
    other_frames: Counter[str] = field(default_factory=Counter)
    answered: int = 0
    _expected: set[Key] = field(default_factory=set)
    _arrived: set[Key] = field(default_factory=set)
    _matched: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def on_sent(self, record: Sent) -> None:
        self.sent[record.cmid] = record
        self.settled.clear()

    def on_ack(self, record: Sent, chat_id: str, seq: int, at: float) -> None:
        record.ack_at, record.chat_id, record.seq = at, chat_id, seq
        self.acks.append((record.sender, chat_id, seq))
        self.answered += 1
        for member in self.members.get(chat_id, ()):
            key = (member, chat_id, seq)
            if member != record.sender and key not in self._expected:
                self._expected.add(key)
                self._matched += key in self._arrived
        self.check()

    def on_error(self, record: Sent | None, code: str) -> None:
        self.errors[code] += 1
        if record is not None:
            record.error = code
            self.answered += 1
            self.check()

    def on_message(self, item: Received) -> None:
        self.received.append(item)
        key = (item.user, item.chat_id, item.seq)
        if key not in self._arrived:
            self._arrived.add(key)
            self._matched += key in self._expected
            self.check()

    def check(self) -> None:
        if self.answered == len(self.sent) and self._matched == len(self._expected):
            self.settled.set()


class BenchSocket:
    """A `/ws` socket of one user (ops/bench/wire.py); its frames go into the tally as
    they arrive."""

    def __init__(self, user: int, token: str, tally: Tally) -> None:
        self.user = user
        self.token = token
        self.tally = tally
        self.ws: WireSocket | None = None
        self.window: asyncio.Semaphore | None = None  # closed-loop mode: sends in flight
        self._pending: deque[Sent] = deque()  # answers come back in send order
        self._pong = asyncio.Event()
        self.live = asyncio.Event()  # the gateway said `ready`: the live stream is on
        self.began = 0.0
        self.live_after: float | None = None  # seconds from connect to `ready`

    async def connect(self, url: str) -> float:
        """Open, authenticate and wait for a pong (the gateway reads frames once the socket
        is authenticated and its start point is pinned); return how long it took. The
        `ready` frame (live stream on) comes later: `live`."""
        begin = self.began = time.monotonic()
        self.ws = ws = await open_socket(f"{url}?{urlencode({'token': self.token})}", self._text)
        await ws.send_text('{"type":"ping"}')
        pong: asyncio.Future[object] = asyncio.ensure_future(self._pong.wait())
        closed: asyncio.Future[object] = asyncio.ensure_future(asyncio.shield(ws.closed))
        await asyncio.wait({pong, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if not self._pong.is_set():
            pong.cancel()
            raise ConnectionError(f"closed before answering (close code {ws.close_code})")
        return time.monotonic() - begin

    async def send_chat(self, text: str, to: str, record: Sent) -> None:
        """Send without waiting for the answer; a closed socket counts as a send error."""
        assert self.ws is not None
        self.tally.on_sent(record)
        self._pending.append(record)  # before the await: the answer may come during it
        frame = {"type": "chat", "message": text, "to": to, "client_msg_id": record.cmid}
        try:
            await self.ws.send_text(json.dumps(frame))
        except ConnectionError:
            with contextlib.suppress(ValueError):
                self._pending.remove(record)
            self.tally.on_error(record, "bench_socket_closed")

    def _text(self, text: str, at: float) -> None:
        self._on_frame(json.loads(text), at)

    def _on_frame(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            m = frame["message"]
            self.tally.on_message(
                Received(self.user, m["chat_id"], m["seq"], m.get("client_msg_id"), at)
            )
        elif kind == "ack":
            m = frame["message"]
            record = self._answered()
            if record is None or record.cmid != frame.get("client_msg_id"):
                self.tally.on_error(record, "bench_ack_mismatch")  # not in send order
            else:
                self.tally.on_ack(record, m["chat_id"], m["seq"], at)
        elif kind == "error":
            self.tally.on_error(self._answered(), str(frame.get("code")))
        elif kind == "pong":
            self._pong.set()
        elif kind == "ready":
            self.live_after = at - self.began
            self.live.set()
        else:
            self.tally.other_frames[str(kind)] += 1

    def _answered(self) -> Sent | None:
        record = self._pending.popleft() if self._pending else None
        if self.window is not None and record is not None:
            self.window.release()
        return record

    async def wait_closed(self) -> None:
        """Until the server has closed this socket."""
        if self.ws is not None:
            await self.ws.closed

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
