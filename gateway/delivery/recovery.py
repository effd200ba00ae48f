"""Recovery for one socket: holes in a chat's stream, and catching up from a seq.

Realtime delivers at most once. When a socket's cursor holds messages beyond a missing
seq, the hole is given `grace_seconds` to fill live, then read from the database with the
user's own token (RLS applies) and offered through the cursor, which drops what it has.
A resume (`since_seq`) replays stored messages the same way: live ones that arrive
meanwhile wait behind the history in the cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from gateway.api.models import wire_message
from gateway.api.protocol import encode, message_frame
from gateway.delivery.client import Connection
from gateway.delivery.cursor import Outgoing
from gateway.delivery.rows import MessageRow
from gateway.delivery.users import LocalUsers
from gateway.errors import GatewayError

__all__ = ["HistoryPage", "HistoryReader", "Recovery"]

log = logging.getLogger(__name__)

GAP_GRACE_SECONDS = 0.5  # how long a hole may wait for Realtime before we read the database
PAGE = 200


class HistoryPage(Protocol):
    @property
    def rows(self) -> list[MessageRow]: ...
    @property
    def has_more(self) -> bool: ...


class HistoryReader(Protocol):
    async def history(
        self,
        token: str,
        chat_id: str,
        limit: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> HistoryPage: ...


class Recovery:
    def __init__(
        self,
        history: HistoryReader,
        users: LocalUsers,
        *,
        grace_seconds: float = GAP_GRACE_SECONDS,
    ) -> None:
        self._history = history
        self._users = users
        self._grace = grace_seconds
        self._filling: set[tuple[int, str]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def backlog(self) -> int:
        """Gap fills under way: (socket, chat) pairs waiting for the database."""
        return len(self._filling)

    def gap_found(self, conn: Connection, chat_id: str) -> None:
        """A socket's cursor has a hole in `chat_id` (its `on_gap`)."""
        key = (conn.id, chat_id)
        if key not in self._filling:
            self._filling.add(key)
            self._spawn(self._fill_gap(conn, chat_id, key))

    async def _fill_gap(self, conn: Connection, chat_id: str, key: tuple[int, str]) -> None:
        try:
            await asyncio.sleep(self._grace)  # usually Realtime delivers it by then
            while (gap := conn.gap(chat_id)) is not None and not conn.closing:
                first, last = gap
                page = await self._history.history(
                    conn.identity.token, chat_id, min(last - first + 1, PAGE), after_seq=first - 1
                )
                if not page.rows:
                    break
                self.replay(conn, chat_id, page.rows)
        except GatewayError as err:
            log.warning("gap fill failed conn=%s code=%s", conn.id, err.code)
        finally:
            self._filling.discard(key)

    async def catch_up(self, conn: Connection, chat_id: str, since_seq: int) -> None:
        """Everything stored after since_seq, in order, then live: the cursor (restarted at
        since_seq by the caller) holds live messages that arrive meanwhile."""
        after = since_seq
        step = max(1, conn.queue_max // 2)  # leaves room for other frames meanwhile
        while True:
            page = await self._history.history(conn.identity.token, chat_id, PAGE, after_seq=after)
            for start in range(0, len(page.rows), step):
                if start:
                    await conn.drained()
                    if conn.closing:
                        return
                self.replay(conn, chat_id, page.rows[start : start + step])
            if not page.has_more or not page.rows:
                return
            after = int(page.rows[-1]["seq"])
            await conn.drained()
            if conn.closing:
                return

    def replay(self, conn: Connection, chat_id: str, rows: list[MessageRow]) -> None:
        """Offer stored rows (ascending) to one socket; the cursor drops what it has."""
        state = self._users.get(conn.user_id)
        peer = conn.peer_id or (state.chat_peer.get(chat_id) if state else None)
        for row in rows:
            receiver = conn.user_id if row["sender_id"] != conn.user_id else peer
            message = wire_message(row, receiver)
            conn.offer(chat_id, Outgoing(int(row["seq"]), encode(message_frame(message))))

    async def drain(self) -> None:
        """Wait until no gap fill is running (fills started meanwhile included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
