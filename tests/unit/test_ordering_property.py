"""Property: whatever Realtime does — deliver late, twice, out of order or never — and
however sockets come and go, every socket gets every message committed after it was
answered exactly once, in order per chat, once recovery has run."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.delivery.client import Connection
from tests.core_fakes import Core, FakeSink, World

USERS = ["u0", "u1", "u2", "u3"]
CHATS = {"c01": ["u0", "u1"], "c12": ["u1", "u2"], "c02": ["u0", "u2"], "g": USERS}

step = st.one_of(
    st.tuples(st.just("commit"), st.sampled_from(sorted(CHATS)), st.sampled_from(USERS)),
    st.tuples(st.just("deliver"), st.integers(0, 50), st.sampled_from(["once", "twice", "drop"])),
    st.tuples(st.just("connect"), st.sampled_from(USERS), st.booleans()),
    st.tuples(st.just("disconnect"), st.integers(0, 50), st.just(None)),
    st.tuples(st.just("fill"), st.just(None), st.just(None)),
)


class Scenario:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.open: list[tuple[Connection, FakeSink, dict[str, int]]] = []

    async def run(
        self, steps: list[tuple[str, Any, Any]], during: list[tuple[str, Any, Any]]
    ) -> None:
        for kind, x, y in steps:
            await self.step(kind, x, y, during)

    async def step(self, kind: str, x: Any, y: Any, during: list[tuple[str, Any, Any]]) -> None:
        world, core = self.core.world, self.core
        if kind == "commit" and y in CHATS[x]:
            world.commit(x, y)
        elif kind == "deliver" and world.in_flight:
            index = x % len(world.in_flight)
            if y == "drop":
                del world.in_flight[index]
            else:
                core.deliver(index, keep=y == "twice")
        elif kind == "connect":
            pending = list(during) if y else []

            async def meanwhile() -> None:  # Realtime keeps going while the read travels
                world.during_read = None
                for k, a, b in pending:
                    if k in ("commit", "deliver"):
                        await self.step(k, a, b, [])

            world.during_read = meanwhile
            conn, sink = await core.connect(x)
            world.during_read = None
            # What was committed when the socket was answered: everything after it is owed.
            committed = {chat_id: len(chat.rows) for chat_id, chat in world.chats.items()}
            self.open.append((conn, sink, committed))
        elif kind == "disconnect" and self.open:
            conn, _sink, _start = self.open.pop(x % len(self.open))
            core.router.detach(conn)
        elif kind == "fill":
            await core.recovery.drain()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60), st.lists(step, max_size=6))
def test_every_socket_gets_each_message_committed_after_it_was_answered_once_in_order(
    steps: list[tuple[str, Any, Any]], during: list[tuple[str, Any, Any]]
) -> None:
    async def scenario() -> None:
        world = World()
        for chat_id, members in CHATS.items():
            world.add_chat(chat_id, members)
        core = Core(world)
        run = Scenario(core)
        await run.run(steps, during)
        await core.settle(*(conn for conn, _, _ in run.open))
        for conn, sink, committed in run.open:
            for chat_id, chat in world.chats.items():
                got, last = sink.messages(chat_id), len(chat.rows)
                if conn.user_id not in chat.members:
                    assert got == []
                    continue
                # Each once, in order, up to the last; everything committed after the
                # socket was answered included (what came before may be, as a prefix).
                first = got[0] if got else last + 1
                assert got == list(range(first, last + 1)), (conn.user_id, chat_id, got)
                assert first <= committed[chat_id] + 1, (conn.user_id, chat_id, committed)

    asyncio.run(scenario())
