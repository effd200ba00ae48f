"""How far the change feed is behind: the age of the oldest committed transaction it has
taken from the WAL stream and not yet handled (broadcasts sent to the subscribers' sockets,
row changes queued for Postgres Changes).

Ages are measured against PostgreSQL's commit timestamps, so a database on another machine
adds its clock skew (ages are never negative).
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.embedded.metrics import EmbeddedMetrics


def age_seconds(commit_time: datetime | None, now: datetime) -> float:
    if commit_time is None:
        return 0.0
    return max(0.0, (now - commit_time).total_seconds())


class FeedLag:
    """The transaction in hand (one at a time: the feed handles them in commit order)."""

    def __init__(self, metrics: EmbeddedMetrics) -> None:
        self._metrics = metrics
        self._current: datetime | None = None

    def started(self, commit_time: datetime) -> None:
        self._current = commit_time

    def finished(self) -> None:
        if self._current is not None:
            self._metrics.dispatched(age_seconds(self._current, datetime.now(UTC)))
        self._current = None

    def oldest(self) -> datetime | None:
        return self._current
