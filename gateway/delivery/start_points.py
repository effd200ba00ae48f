"""Start points of users coming online, read many users per query.

A user's first socket needs where each of their chats stands before the gateway answers
it. One read per socket made a burst of connects (a restart: every user at once) cost a
Data API call and a query each. Here reads are batched adaptively: a read starts at once
while fewer than `max_in_flight` are under way, so a lone connect waits for nothing;
under a burst the requests that arrive meanwhile wait for a free slot and go together,
up to `max_batch` users per query. One read at a time is the default: measured over a
2,000-socket ramp, two at a time made batches so small that the Data API and the database
spent 3x the CPU per socket (1,000 µs vs 300) for no gain in time to ready. The source
reads as service_role for user ids the gateway has authenticated; the database function
returns only chats each user is a member of — the rows RLS would give that user.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from gateway.delivery.rows import ChatStart
from gateway.errors import ErrorCode, GatewayError

__all__ = ["StartPointReader", "StartPointSource"]

log = logging.getLogger(__name__)


class StartPointSource(Protocol):
    async def start_points(self, user_ids: list[str]) -> dict[str, list[ChatStart]]:
        """Each user's chats (a user with none may be missing from the answer)."""
        ...


class StartPointReader:
    def __init__(
        self, source: StartPointSource, *, max_batch: int = 500, max_in_flight: int = 1
    ) -> None:
        self._source = source
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[str, asyncio.Future[list[ChatStart]]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, user_id: str) -> list[ChatStart]:
        """Where each chat of the user stands. Raises GatewayError if it cannot be read."""
        future: asyncio.Future[list[ChatStart]] = asyncio.get_running_loop().create_future()
        self._waiting.append((user_id, future))
        self._start_reads()
        return await future

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_reads(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._read(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read(self, batch: list[tuple[str, asyncio.Future[list[ChatStart]]]]) -> None:
        try:
            wanted = [user for user, future in batch if not future.done()]
            if not wanted:
                return  # every socket in it went away while it waited
            try:
                points = await self._source.start_points(sorted(set(wanted)))
            except GatewayError as err:
                _fail(batch, err.error, err.message)
                return
            except Exception:
                log.exception("start point read failed")
                _fail(batch, ErrorCode.INTERNAL)
                return
            except BaseException:  # closing
                for _, future in batch:
                    future.cancel()
                raise
            for user, future in batch:
                if not future.done():
                    future.set_result(points.get(user, []))
        finally:
            self._in_flight -= 1
            self._start_reads()


def _fail(
    batch: list[tuple[str, asyncio.Future[list[ChatStart]]]],
    code: ErrorCode,
    message: str | None = None,
) -> None:
    """Each socket still waiting on the batch gets the error (an exception of its own)."""
    for _, future in batch:
        if not future.done():
            future.set_exception(GatewayError(code, message))
