"""The position check: find messages the live stream lost, even a conversation's last.

Realtime delivers at most once, and a cursor notices a hole only when a later message of
the same chat arrives. So every `interval` seconds (and at once when the upstream was
interrupted or dropped events) the gateway asks the database where each recently active
chat stands (one query, as service_role) and compares each chat that has local members
with how far those members' streams have come. A chat still behind after `grace`
seconds (a message may just be in flight) is read from the database and routed as if it
had arrived live; the sockets' cursors drop what they already have.

While Realtime is down this check alone keeps delivering, one interval late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from gateway.delivery.recovery import HistoryReader, Recovery
from gateway.delivery.router import Router
from gateway.delivery.rows import ChatPosition, Positions
from gateway.delivery.users import LocalUsers
from gateway.errors import GatewayError
from gateway.metrics import Metrics

__all__ = ["PositionCheck", "PositionSource"]

log = logging.getLogger(__name__)

PAGE = 200


class PositionSource(Protocol):
    async def positions(self, since: str | None) -> Positions: ...


class PositionCheck:
    def __init__(
        self,
        source: PositionSource,
        history: HistoryReader,
        service_token: str,
        users: LocalUsers,
        router: Router,
        recovery: Recovery,
        metrics: Metrics,
        *,
        interval: float,
        grace: float = 1.0,
    ) -> None:
        self._source = source
        self._history = history
        self._token = service_token
        self._users = users
        self._router = router
        self._recovery = recovery
        self._metrics = metrics
        self._interval = interval
        self._grace = grace
        self._since: str | None = None  # the database's clock at the last good check
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake.set()  # the first check sets the clock: nothing before it is owed
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def check_soon(self) -> None:
        """The upstream was interrupted or dropped events: check now, not at the interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.check()
            except GatewayError as err:
                log.warning("position check failed code=%s", err.code)
            except Exception:  # the supervisor's boundary: never let the loop die
                log.exception("position check failed")

    async def check(self) -> int:
        """One check; returns how many chats were behind and read from the database."""
        answer = await self._source.positions(self._since)
        since, self._since = self._since, answer["checked_at"]
        if since is None:
            return 0  # the first check only sets the clock: nothing was owed before it
        for chat in answer["chats"]:
            self._refill_holes(chat)
        behind = [chat for chat in answer["chats"] if self._behind(chat) is not None]
        if not behind:
            return 0
        await asyncio.sleep(self._grace)  # what is merely in flight arrives meanwhile
        repaired = 0
        for chat in behind:
            start = self._behind(chat)
            if start is not None:
                repaired += 1
                await self._fill(chat, start)
        return repaired

    def _refill_holes(self, chat: ChatPosition) -> None:
        """A socket's hole whose fill failed stays open until the chat's next message: try
        again now, so a hole just before a conversation's last message is not forever."""
        for member in chat["member_ids"] or ():
            state = self._users.get(member)
            for conn in state.connections if state is not None else ():
                if conn.gap(chat["chat_id"]) is not None:
                    self._recovery.gap_found(conn, chat["chat_id"])

    def _behind(self, chat: ChatPosition) -> int | None:
        """Where the least advanced local member's stream stands in this chat, if that is
        short of the chat's last seq; None if nobody here is behind."""
        lowest: int | None = None
        for member in chat["member_ids"] or ():
            state = self._users.get(member)
            if state is None or state.seen is None:
                continue  # not here, or its start point is being read (it covers this)
            seen = state.seen.get(chat["chat_id"], 0)
            lowest = seen if lowest is None else min(lowest, seen)
        if lowest is None or lowest >= int(chat["last_seq"]):
            return None
        return lowest

    async def _fill(self, chat: ChatPosition, after: int) -> None:
        last = int(chat["last_seq"])
        while after < last:
            page = await self._history.history(self._token, chat["chat_id"], PAGE, after_seq=after)
            if not page.rows:
                return
            for row in page.rows:
                self._router.route_message({**row, "member_ids": chat["member_ids"]})
            self._metrics.recovered(len(page.rows))
            after = int(page.rows[-1]["seq"])
