"""Whether Realtime's change feed keeps up: what the embedded /health and /metrics report.

Two checks: `change_feed` (the feed task runs and its WAL stream is connected) and
`change_feed_lag` (the oldest committed change not yet dispatched, by the feed or by the
ordered side of Postgres Changes, is at most `embedded.change_feed_max_lag_seconds` old).
What a channel's own RLS and filter checks take afterwards is not counted: one hostile
subscriber must not be able to make the whole stack look unhealthy. Also reported, not
checked: the lag in bytes of WAL (which can include writes to unpublished tables the
stream has not yet skipped past).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.embedded.cdc.lag import FeedLag, age_seconds
from gateway.embedded.cdc.postgres_changes import PostgresChanges
from gateway.embedded.wal.changes import format_lsn
from gateway.embedded.wal.stream import WalStream

log = logging.getLogger(__name__)

BYTES_TIMEOUT_SECONDS = 0.8  # /health answers even when the pool is exhausted


@dataclass
class FeedStatus:
    """Filled in by the feed when it starts (cdc.feed); read by /health and /metrics."""

    lag: FeedLag | None = None
    stream: WalStream | None = None
    changes: PostgresChanges | None = None
    consumer: asyncio.Task[None] | None = None
    lag_query: asyncio.Task[int | None] | None = None  # see _lag_bytes

    def running(self) -> bool:
        consumer, stream = self.consumer, self.stream
        return (
            consumer is not None
            and not consumer.done()
            and stream is not None
            and (stream.connected)
        )

    def lag_seconds(self, now: datetime) -> float:
        oldest = [
            self.lag.oldest() if self.lag is not None else None,
            self.changes.oldest_pending() if self.changes is not None else None,
        ]
        return max(age_seconds(when, now) for when in oldest)


@dataclass(frozen=True)
class FeedReport:
    running: bool
    lag_seconds: float
    lag_bytes: int | None
    max_lag_seconds: float

    def checks(self) -> dict[str, bool]:
        return {
            "change_feed": self.running,
            "change_feed_lag": self.lag_seconds <= self.max_lag_seconds,
        }

    def details(self) -> dict[str, Any]:
        return {
            "lag_seconds": round(self.lag_seconds, 3),
            "lag_bytes": self.lag_bytes,
            "max_lag_seconds": self.max_lag_seconds,
        }


async def report(status: FeedStatus, pool: asyncpg.Pool, max_lag_seconds: float) -> FeedReport:
    lag_bytes = await _lag_bytes(status, pool)
    lag_seconds = status.lag_seconds(datetime.now(UTC))
    return FeedReport(status.running(), lag_seconds, lag_bytes, max_lag_seconds)


async def _lag_bytes(status: FeedStatus, pool: asyncpg.Pool) -> int | None:
    """The WAL the feed has yet to read, or None if unknown within BYTES_TIMEOUT_SECONDS.

    The query runs in a task of its own that a timeout leaves running: cancelling a query
    on a hung PostgreSQL makes asyncpg wait, with no deadline, for the server to confirm
    the cancel before the connection goes back to the pool, so /health hung as long as
    the database did. At most one such query is in flight; later calls wait on it."""
    position = status.stream.position if status.stream is not None else None
    if position is None:
        return None
    if status.lag_query is None or status.lag_query.done():
        status.lag_query = asyncio.create_task(_query_lag_bytes(pool, position))
    try:
        return await asyncio.wait_for(asyncio.shield(status.lag_query), BYTES_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("change feed lag in bytes unknown: the database did not answer in time")
        return None


async def _query_lag_bytes(pool: asyncpg.Pool, position: int) -> int | None:
    try:
        async with pool.acquire() as conn:
            behind = await conn.fetchval(
                "select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)",
                format_lsn(position),
            )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        log.warning("change feed lag in bytes unknown: %s", type(err).__name__)
        return None
    return max(0, int(behind))
