"""Postgres Changes (work in progress): row changes of published tables to subscribers."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from gateway.embedded.realtime.hub import Hub
from gateway.embedded.wal.changes import RowChange


class PostgresChanges:
    def __init__(self, pool: asyncpg.Pool, hub: Hub) -> None:
        self.pool = pool
        self.hub = hub

    def start(self) -> None:
        """Begin watching channels with postgres_changes bindings."""

    def submit(self, change: RowChange, commit_time: datetime) -> None:
        """A committed row change of a published table, in commit order."""

    async def stop(self) -> None:
        """Stop the dispatcher."""
