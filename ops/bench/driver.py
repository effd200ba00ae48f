"""Messages straight into PostgreSQL, as the users would send them through the Data API:
`public.send_direct_message(peer, body, client_msg_id)` with `search_path`,
`request.jwt.claims` and `role` set as the Data API sets them, each call its own
transaction through the real triggers (seq under the chat row lock, chat summary, the
Realtime broadcasts) — no gateway, no HTTP.

Two ways to drive it over a few asyncpg connections: `at_rate` (open loop: each message
sent at its scheduled time whether or not earlier ones committed; a connection takes up
to `pipeline` waiting messages per round trip when it falls behind) and `flat_out`
(closed loop: each connection keeps `pipeline` transactions per round trip going).
Every client_msg_id carries its scheduled and actual send time (`clients.make_cmid`), and
`commits` keeps when each commit was acknowledged, so a subscriber's receive time gives
the latency without asking us.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import asyncpg

from ops.bench.clients import make_cmid
from ops.bench.schedule import Send
from ops.bench.users import BenchUser, Chat

Item = tuple[int, float]  # (sender's user index, scheduled time)


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on: only quotes need doubling)."""
    return "'" + text.replace("'", "''") + "'"


def transaction(sender: BenchUser, peer: BenchUser, body: str, cmid: str) -> str:
    claims = json.dumps({"sub": sender.id, "role": "authenticated", "aud": "authenticated"})
    return (
        "begin;"
        f"select set_config('search_path', '\"public\", \"extensions\"', true),"
        f" set_config('request.jwt.claims', {_literal(claims)}, true),"
        " set_config('role', 'authenticated', true);"
        f"select public.send_direct_message({_literal(peer.id)}::uuid, {_literal(body)},"
        f" {_literal(cmid)});"
        "commit;"
    )


class Driver:
    def __init__(
        self,
        database_url: str,
        users: list[BenchUser],
        chats: list[Chat],
        *,
        payload: int,
        run_id: str,
    ) -> None:
        self.database_url = database_url
        self.by_index = {u.index: u for u in users}
        self.chats = chats
        self.peer = {m: other for c in chats for m, other in (c.members, c.members[::-1])}
        self.body = "x" * payload
        self.run_id = run_id
        self.commits: dict[str, float] = {}  # client_msg_id → commit acknowledged at
        self.conns: list[asyncpg.Connection] = []
        self._n = itertools.count()

    async def connect(self, connections: int) -> None:
        self.conns = [await asyncpg.connect(self.database_url) for _ in range(connections)]

    async def close(self) -> None:
        conns, self.conns = self.conns, []
        await asyncio.gather(*(c.close() for c in conns))

    async def _execute(self, conn: asyncpg.Connection, items: list[Item]) -> None:
        now = time.monotonic()
        cmids = [make_cmid(self.run_id, s, next(self._n), sched, now) for s, sched in items]
        script = "".join(
            transaction(self.by_index[s], self.by_index[self.peer[s]], self.body, cmid)
            for (s, _), cmid in zip(items, cmids, strict=True)
        )
        await conn.execute(script)
        done = time.monotonic()
        for cmid in cmids:
            self.commits[cmid] = done

    async def at_rate(self, sends: list[Send], start: float, pipeline: int) -> None:
        """Each send at start + its time, on whichever connection is free."""
        queue: asyncio.Queue[Item | None] = asyncio.Queue()

        async def feed() -> None:
            for send in sends:
                due = start + send.at
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait((send.sender, due))
            for _ in self.conns:
                queue.put_nowait(None)  # one end mark per connection

        async def pump(conn: asyncpg.Connection) -> None:
            while (item := await queue.get()) is not None:
                items = [item]
                while len(items) < pipeline and not queue.empty():
                    if (more := queue.get_nowait()) is None:
                        queue.put_nowait(None)  # end marks come last: give it back
                        break
                    items.append(more)
                await self._execute(conn, items)

        await asyncio.gather(feed(), *(pump(c) for c in self.conns))

    async def flat_out(self, seconds: float, pipeline: int) -> int:
        """As fast as the connections go for `seconds`; chats in turn, their members
        taking turns sending. Returns the number of messages committed."""
        end = time.monotonic() + seconds
        turn = itertools.count()
        committed = 0

        async def pump(conn: asyncpg.Connection) -> None:
            nonlocal committed
            while (now := time.monotonic()) < end:
                items: list[Item] = []
                for _ in range(pipeline):
                    i = next(turn)
                    chat = self.chats[i % len(self.chats)]
                    items.append((chat.members[(i // len(self.chats)) % 2], now))
                await self._execute(conn, items)
                committed += pipeline

        await asyncio.gather(*(pump(c) for c in self.conns))
        return committed
