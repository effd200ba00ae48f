"""A client worker process: owns a shard of the users' sockets and runs the coordinator's
commands one at a time (see `child`) — connect, reconnect, load (open loop), ceiling
(closed loop), close.

Both members of a chat live in the same worker, so each worker checks its chats whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from gateway.loop import run
from ops.bench import child, stats
from ops.bench.clients import BenchSocket, Sent, Tally, make_cmid
from ops.bench.probes import port_open
from ops.bench.schedule import Send

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserSpec:
    index: int
    id: str
    token: str
    peer_id: str


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    run_id: str
    payload: int
    users: tuple[UserSpec, ...]
    chats: tuple[tuple[str, tuple[int, ...]], ...]  # (chat id, member indexes)


LIVE_WAIT = 120.0  # seconds a ramp waits for every socket's `ready` after the last connect
RETRY_FIRST_SECONDS = 0.05  # a reconnecting client's first backoff; doubles up to the max
RETRY_MAX_SECONDS = 0.5


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.users = {u.index: u for u in spec.users}
        self.text = "x" * spec.payload
        self.tally = Tally(dict(spec.chats))
        self.sockets: dict[int, BenchSocket] = {}

    async def connect(
        self, url: str, users: list[int], concurrency: int, retry_until: float | None = None
    ) -> dict[str, Any]:
        """Open a socket per user, `concurrency` at a time, then wait for every `ready`.
        With `retry_until`, a failed connect is tried again (backoff with jitter) until then,
        as a client does when its gateway restarts; without it, a failure is final."""
        gate = asyncio.Semaphore(concurrency)
        seconds: list[float] = []
        failures: dict[str, int] = {}
        attempts = 0

        async def one(index: int) -> None:
            nonlocal attempts
            delay = RETRY_FIRST_SECONDS
            while True:
                sock = BenchSocket(index, self.users[index].token, self.tally)
                async with gate:
                    attempts += 1
                    try:
                        seconds.append(await asyncio.wait_for(sock.connect(url), 30))
                        self.sockets[index] = sock
                        return
                    except (TimeoutError, OSError) as err:
                        kind = f"{type(err).__name__}: {err}".rstrip(": ")[:120]
                        failures[kind] = failures.get(kind, 0) + 1
                        await sock.close()
                if retry_until is None or time.monotonic() + delay > retry_until:
                    return
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(2 * delay, RETRY_MAX_SECONDS)

        first = time.monotonic()
        await asyncio.gather(*(one(i) for i in users))
        last = time.monotonic()
        opened = [self.sockets[i] for i in users if i in self.sockets]
        with contextlib.suppress(TimeoutError):  # not live in time: counted as not_live
            await asyncio.wait_for(asyncio.gather(*(s.live.wait() for s in opened)), LIVE_WAIT)
        live = [s.live_after for s in opened if s.live_after is not None]
        return {
            "first": first,
            "first_connected": min((s.began for s in opened), default=last),
            "last": last,
            "all_live": max((s.began + s.live_after for s in opened if s.live_after), default=last),
            "seconds": seconds,
            "live_seconds": live,
            "not_live": len(opened) - len(live),
            "not_connected": len(users) - len(opened),
            "attempts": attempts,
            "failures": failures,
        }

    async def reconnect(self, url: str, concurrency: int, within: float) -> dict[str, Any]:
        """After the coordinator stops the gateway: wait until it has closed our sockets,
        then every user reconnects at once, each retrying until the new gateway answers.
        While the port refuses connections one probe stands in for all of them, so the
        generator does not spin on refused connects beside a gateway starting up."""
        old = list(self.sockets.values())
        self.sockets = {}
        await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in old)), within)
        closed = time.monotonic()
        await asyncio.gather(*(s.close() for s in old))
        deadline = closed + within
        await port_open(url, deadline)
        reply = await self.connect(url, list(self.users), concurrency, retry_until=deadline)
        reply["closed"] = closed
        return reply

    async def load(
        self,
        start: float,
        sends: list[Send],
        window: tuple[float, float],
        drain: float,
        linger: float,
    ) -> dict[str, Any]:
        """Send on schedule (never waiting for answers), then wait for stragglers."""
        for n, send in enumerate(sends):
            due = start + send.at
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            sock = self.sockets.get(send.sender)
            if sock is None:
                continue  # its connect failed; reported by the connect phase
            now = time.monotonic()
            cmid = make_cmid(self.spec.run_id, send.sender, n, due, now)
            record = Sent(cmid, send.sender, due, now)
            await sock.send_chat(self.text, self.users[send.sender].peer_id, record)
        self.tally.check()
        drained = True
        try:
            await asyncio.wait_for(self.tally.settled.wait(), drain)
        except TimeoutError:
            drained = False
        await asyncio.sleep(linger)  # a late duplicate would land here
        summary = stats.summarize(self.tally, *window)
        summary["drained"] = drained
        return summary

    async def ceiling(
        self, url: str, seconds: float, window: int, concurrency: int
    ) -> dict[str, Any]:
        """Closed loop against the bare server: each user keeps `window` sends in flight."""
        saved = self.tally, self.sockets
        self.tally, self.sockets = Tally(dict(self.spec.chats)), {}
        try:
            await self.connect(url, list(self.users), concurrency)
            start = time.monotonic()
            end = start + seconds

            async def pump(sock: BenchSocket) -> None:
                sock.window = asyncio.Semaphore(window)
                n = 0
                while (now := time.monotonic()) < end:
                    try:
                        await asyncio.wait_for(sock.window.acquire(), end - now)
                    except TimeoutError:
                        return
                    now = time.monotonic()  # closed loop: a send is due when a slot frees up
                    record = Sent(make_cmid("c", sock.user, n, now, now), sock.user, now, now)
                    await sock.send_chat(self.text, self.users[sock.user].peer_id, record)
                    n += 1

            await asyncio.gather(*(pump(s) for s in self.sockets.values()))
            self.tally.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tally.settled.wait(), 10)
            summary = stats.summarize(self.tally, start, end)
            summary.update(start=start, end=end)
            await self.close()
            return summary
        finally:
            self.tally, self.sockets = saved

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(s.close() for s in self.sockets.values()))
        self.sockets.clear()
        return {}


async def _serve(conn: Connection, spec: WorkerSpec) -> None:
    worker = Worker(spec)
    try:
        await child.serve(conn, worker, f"worker {spec.index}")
    finally:
        await worker.close()


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of the worker process (multiprocessing, spawn)."""
    child.enter()
    run(_serve(conn, spec))
