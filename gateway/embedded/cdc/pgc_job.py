"""One committed change on its way to the channels that may want it, and what they share:
the values converted to JSON, the commit timestamp, the table's catalog facts per role, and
each event payload, built once per role and `select` list whichever channel asks first.

A job is created on the ordered path and read by every channel's queue; all its caches are
filled synchronously or keyed so that two queues filling one entry compute the same thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from gateway.embedded.cdc.pgc_payload import (
    NO_PRIMARY_KEY,
    UNAUTHORIZED,
    ChangeValues,
    commit_timestamp,
    error_data,
    event_data,
)
from gateway.embedded.cdc.pgc_rls import TableInfo, table_info
from gateway.embedded.wal.changes import RowChange

Select = tuple[str, ...] | None


class ChangeJob:
    """A change, its transaction's xid and commit time; `tables` maps each role queued for it
    to its table facts."""

    __slots__ = ("_events", "_values", "change", "committed", "tables", "xid")

    def __init__(
        self,
        change: RowChange,
        xid: int,
        committed: datetime,
        tables: dict[str, TableInfo | None],
    ) -> None:
        self.change = change
        self.xid = xid
        self.committed = committed
        self.tables = tables
        self._values: ChangeValues | None = None
        self._events: dict[tuple[str, Select], dict[str, Any]] = {}

    @property
    def values(self) -> ChangeValues:
        if self._values is None:
            self._values = ChangeValues.of(self.change)
        return self._values

    async def table(self, role: str, pool: asyncpg.Pool) -> TableInfo | None:
        """The table as `role` sees it (None once dropped). A role not read on the ordered
        path (a token refresh changed it since) is read here."""
        if role not in self.tables:
            change = self.change
            async with pool.acquire() as conn:
                self.tables[role] = await table_info(conn, change.schema, change.table, (role,))
        return self.tables[role]

    def error(self, table: TableInfo, role: str) -> dict[str, Any] | None:
        """apply_rls's 400/401 row for `role`, sent with its filters unchecked; None if none."""
        if self.change.kind == "DELETE":
            return None
        keys = self.values.keys
        if not keys:
            return error_data(self.change, NO_PRIMARY_KEY)
        if not keys <= table.selectable.get(role, frozenset()):
            return error_data(self.change, UNAUTHORIZED)
        return None

    def event(self, table: TableInfo, role: str, select: Select) -> dict[str, Any]:
        key = (role, select)
        data = self._events.get(key)
        if data is None:
            when = commit_timestamp(self.committed)
            data = event_data(self.change, self.values, when, table, role, select)
            self._events[key] = data
        return data
