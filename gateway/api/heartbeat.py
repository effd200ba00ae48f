"""Pinging quiet client sockets and closing dead ones, with one task for the whole gateway.

aiohttp's own heartbeat keeps two timers per socket (~1.5 KB with uvloop, measured at
10,000 sockets) and reschedules one on every frame received; here a socket costs two
floats. A socket that sent nothing (a pong counts) for `interval` seconds is pinged; if it
still sends nothing within `interval / 2` — aiohttp's own wait for the pong — it is told
it is unresponsive (and closes itself). Sockets are checked `CHECKS_PER_WAIT` times per
pong wait, so a dead peer is found within `interval * 1.5 + interval / 6`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

CHECKS_PER_WAIT = 3


class Beating(Protocol):
    seen: float  # time.monotonic() of the last frame received
    pinged: float  # time.monotonic() of the last ping sent (0: never)

    def ping(self) -> Coroutine[Any, Any, None]: ...
    def unresponsive(self) -> None: ...


T = TypeVar("T", bound=Beating)


class Heartbeat(Generic[T]):
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pong_wait = interval / 2
        self._members: set[T] = set()
        self._pings: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, member: T) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._members.add(member)

    def unwatch(self, member: T) -> None:
        self._members.discard(member)

    def __len__(self) -> int:
        return len(self._members)

    async def close(self) -> None:
        tasks = [*self._pings, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.pong_wait / CHECKS_PER_WAIT)
            try:
                self.check(time.monotonic())
            except Exception:  # one bad socket must not stop the heartbeat of all
                log.exception("heartbeat check failed")

    def check(self, now: float) -> None:
        """Ping who has been quiet for `interval`; give up on who did not answer in time."""
        quiet_since = now - self.interval
        for member in list(self._members):
            if member.seen > quiet_since:
                continue
            if member.pinged <= member.seen:  # no ping since it last spoke
                member.pinged = now
                task = asyncio.get_running_loop().create_task(member.ping())
                self._pings.add(task)
                task.add_done_callback(self._pings.discard)
            elif now - member.pinged >= self.pong_wait:
                self._members.discard(member)
                member.unresponsive()
