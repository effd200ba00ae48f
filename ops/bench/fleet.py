"""The coordinator's side of the client workers: start them (spawn), send every worker a
command and await all replies without blocking the event loop, stop them by pid.

Users are dealt to workers a whole chat at a time, so a chat is never split.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ops.bench.users import BenchUser, Chat
from ops.bench.worker import UserSpec, WorkerSpec, readable, worker_main

STOP_GRACE_SECONDS = 3.0  # an idle worker exits at once; a busy one is terminated


class WorkerFailed(RuntimeError):
    pass


def shard(
    users: list[BenchUser], chats: list[Chat], workers: int, run_id: str, payload: int
) -> list[WorkerSpec]:
    """Chat k goes to worker k % workers, with all its members."""
    by_index = {u.index: u for u in users}
    specs: list[WorkerSpec] = []
    for w in range(workers):
        mine = chats[w::workers]
        members: list[UserSpec] = []
        for chat in mine:
            for index in chat.members:
                peer = next(m for m in chat.members if m != index)
                user = by_index[index]
                members.append(UserSpec(index, user.id, user.token, by_index[peer].id))
        specs.append(
            WorkerSpec(w, run_id, payload, tuple(members), tuple((c.id, c.members) for c in mine))
        )
    return specs


class Fleet:
    def __init__(self, specs: list[WorkerSpec]) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process running a loop
        self.specs = specs
        self.owner = {u.index: s.index for s in specs for u in s.users}
        self._pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for spec in specs:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main, args=(theirs, spec), name=f"bench-worker-{spec.index}"
            )
            proc.daemon = True  # dies with us even if we are killed
            proc.start()
            theirs.close()
            self._pipes.append(ours)
            self.processes.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    async def _call(self, pipe: Connection, command: dict[str, Any]) -> dict[str, Any]:
        pipe.send(command)
        await readable(pipe)
        try:
            reply: dict[str, Any] = pipe.recv()
        except EOFError:
            raise WorkerFailed("a worker process exited; see its output above") from None
        if "error" in reply:
            raise WorkerFailed(reply["error"])
        return reply

    async def each(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Command i to worker i, all at once; the replies in worker order."""
        calls = (self._call(p, c) for p, c in zip(self._pipes, commands, strict=True))
        return list(await asyncio.gather(*calls))

    async def all(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.each([dict(command) for _ in self._pipes])

    def stop(self) -> None:
        for pipe in self._pipes:
            try:
                pipe.send({"cmd": "exit"})
            except (OSError, ValueError):
                pass  # already gone
        for proc in self.processes:
            proc.join(STOP_GRACE_SECONDS)
            if proc.is_alive():
                proc.terminate()
                proc.join(STOP_GRACE_SECONDS)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for pipe in self._pipes:
            pipe.close()
        self._pipes, self.processes = [], []
