"""The coordinator's side of the client workers (each a `child.Child`): start them, send
every worker a command and await all replies without blocking the event loop, stop them.

Users are dealt to workers a whole chat at a time, so a chat is never split.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ops.bench.child import Child
from ops.bench.users import BenchUser, Chat
from ops.bench.worker import UserSpec, WorkerSpec, worker_main


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
    """One worker process per spec; commands go to all of them at once."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        self.specs = specs
        self.owner = {u.index: s.index for s in specs for u in s.users}
        self.workers = [Child(worker_main, (s,), f"bench-worker-{s.index}") for s in specs]

    @property
    def pids(self) -> list[int]:
        return [pid for w in self.workers if (pid := w.pid) is not None]

    async def each(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Command i to worker i, all at once; the replies in worker order."""
        calls = (w.call(c) for w, c in zip(self.workers, commands, strict=True))
        return list(await asyncio.gather(*calls))

    async def all(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.each([dict(command) for _ in self.workers])

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []
