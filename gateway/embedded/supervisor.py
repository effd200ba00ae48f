"""Keeps the embedded PostgreSQL running: when its postmaster dies, start it again.

One log line when it dies (pid and exit code) and one when it is back (how long it was
down), never a URL or password. Restarts back off (`embedded.postgres_restart_delay_seconds`,
0.2 s, doubling to 10 s) while
PostgreSQL keeps failing to start, e.g. while the killed server's backends still hold its
shared memory, and the backoff resets once a server has stayed up. In the meantime the
Data API answers 503 `PGRST000`, the pool reconnects by itself, and the change feed
resumes from its replication slot, so nothing committed is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time

from gateway.embedded.postgres import PostgresServer

log = logging.getLogger(__name__)

FIRST_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 10.0
STABLE_SECONDS = 30.0  # up this long: the next death starts the backoff over


class PostgresSupervisor:
    """`start()` the server and watch it; `stop()` stops watching, then the server."""

    def __init__(
        self,
        server: PostgresServer,
        *,
        first_delay: float = FIRST_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        self.server = server
        self.first_delay = first_delay
        self.max_delay = max(max_delay, first_delay)
        self.restarts = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)
        self._task = asyncio.create_task(self._watch(), name="postgres-supervisor")

    async def stop(self) -> None:
        """Never while a restart runs in its thread: that one finishes, then is stopped."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.server.stop)

    async def _watch(self) -> None:
        delay = self.first_delay
        while True:
            pid, up_since = self.server.pid, time.monotonic()
            code = await self._exit_or_stop()
            if code is None:
                return
            died = time.monotonic()
            if died - up_since >= STABLE_SECONDS:
                delay = self.first_delay
            log.warning(
                "PostgreSQL (pid %s) exited with code %s; restarting in %.1f s", pid, code, delay
            )
            while True:
                if await self._stopped_within(delay):
                    return
                delay = min(delay * 2, self.max_delay)
                try:
                    await asyncio.to_thread(self.server.start)
                    break
                except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as err:
                    # Our own messages (exit code, log path); never the URL.
                    log.warning(
                        "PostgreSQL did not start (%s); retrying in %.1f s",
                        type(err).__name__,
                        delay,
                    )
            self.restarts += 1
            log.warning(
                "PostgreSQL restarted (pid %s), %.1f s after it exited",
                self.server.pid,
                time.monotonic() - died,
            )

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _exit_or_stop(self) -> int | None:
        """The server's exit code once it exits; None when we are told to stop first."""
        proc = self.server.process
        if proc is None:
            return None
        exited = asyncio.ensure_future(_exited(proc))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            stopping.cancel()
        if self._stopping.is_set():
            return None
        return proc.wait()


async def _exited(proc: subprocess.Popen[bytes]) -> None:
    """Until `proc` exits: a pidfd becomes readable then (Linux); elsewhere a thread waits
    (it ends when the server is stopped, even if we stopped waiting)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        await asyncio.to_thread(proc.wait)
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
