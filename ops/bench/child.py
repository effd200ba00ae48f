"""A helper process of the bench (client worker, Realtime subscriber): spawned, driven
over a pipe one command at a time, stopped by pid. Both sides live here.

The child side (`serve`) runs `getattr(handler, cmd)(**args)` for each command and sends
back its reply with the command's CPU and wall seconds, or `{"error": …}`: a failing
command is reported, and the child keeps serving. Children ignore SIGINT: the
coordinator handles Ctrl-C and stops them; a child also exits when its pipe closes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0  # an idle child exits at once; a busy one is terminated


class ChildFailed(RuntimeError):
    pass


class Child:
    """The coordinator's handle on one spawned process (never forked: we run a loop)."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, theirs = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(theirs, *args), name=name)
        self.process.daemon = True  # dies with us even if we are killed
        self.process.start()
        theirs.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def call(self, command: dict[str, Any]) -> dict[str, Any]:
        self._pipe.send(command)
        await readable(self._pipe)
        try:
            reply: dict[str, Any] = self._pipe.recv()
        except EOFError:
            raise ChildFailed(f"{self.process.name} exited; see its output above") from None
        if "error" in reply:
            raise ChildFailed(reply["error"])
        return reply

    def stop(self) -> None:
        try:
            self._pipe.send({"cmd": "exit"})
        except (OSError, ValueError):
            pass  # already gone
        proc = self.process
        proc.join(STOP_GRACE_SECONDS)
        if proc.is_alive():
            proc.terminate()
            proc.join(STOP_GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
            proc.join()
        self._pipe.close()


async def readable(conn: Connection) -> None:
    """Wait until the pipe has data, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
        # uvloop made the pipe non-blocking; Connection.send expects a blocking one.
        os.set_blocking(conn.fileno(), True)


def enter() -> None:
    """First thing in a child process: Ctrl-C is the coordinator's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve(conn: Connection, handler: object, name: str) -> None:
    """The child's side: run each command on `handler` until `exit` or the pipe closes."""
    while True:
        await readable(conn)
        try:
            command: dict[str, Any] = conn.recv()
        except EOFError:
            return
        cmd = command.pop("cmd")
        if cmd == "exit":
            return
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        try:
            reply: dict[str, Any] = await getattr(handler, cmd)(**command)
        except Exception as err:  # the command boundary: report, keep serving
            log.exception("%s: %s failed", name, cmd)
            reply = {"error": f"{cmd}: {type(err).__name__}: {err}"}
        reply["cpu_s"] = cpu_seconds() - cpu0
        reply["wall_s"] = time.monotonic() - wall0
        conn.send(reply)
