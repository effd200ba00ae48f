"""apply_rls and the message dispatcher for one change: per subscribed role (in name order)
either Supabase's 400/401 error row, or the filter and RLS checks; then one event per
distinct `select` list, pushed to each channel with the ids of its bindings that matched."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

import asyncpg

from gateway.embedded.cdc.pgc_filters import FilterRun
from gateway.embedded.cdc.pgc_payload import (
    NO_PRIMARY_KEY,
    UNAUTHORIZED,
    ChangeValues,
    commit_timestamp,
    error_data,
    event_data,
)
from gateway.embedded.cdc.pgc_registry import ChannelEntry, Match
from gateway.embedded.cdc.pgc_rls import RlsChecks, TableInfo, table_info
from gateway.embedded.cdc.pgc_subscribe import Subscription
from gateway.embedded.wal.changes import RowChange


def _select_order(select: tuple[str, ...] | None) -> str:
    # order by coalesce(array_to_string(selected_columns, ','), '')
    return ",".join(select) if select else ""


def fan_out(data: dict[str, Any], group: list[Match]) -> int:
    """Push one event to every channel in `group`; returns the number of frames."""
    by_entry: dict[ChannelEntry, list[Subscription]] = {}
    for entry, sub in group:
        by_entry.setdefault(entry, []).append(sub)
    for entry, subs in by_entry.items():
        channel = entry.channel
        if channel.legacy_api:  # topic-as-subscription clients get the change type as event
            channel.push_fastlane(data["type"], data)
            continue
        # Supabase walks the channel's bindings in order, prepending each match.
        ids = [sub.binding_id for sub in sorted(subs, key=lambda s: s.position, reverse=True)]
        channel.push_fastlane("postgres_changes", {"ids": ids, "data": data})
    return len(by_entry)


class Dispatch:
    """The database side of a batch of changes: one connection for catalog and filter queries,
    one read-only transaction for RLS checks, and table facts read once per batch."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._rls = RlsChecks(pool)
        self._tables: dict[tuple[str, str, tuple[str, ...]], TableInfo | None] = {}

    async def __aenter__(self) -> Dispatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        try:
            await self._rls.close()
        finally:
            if conn is not None:
                await self._pool.release(conn)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        return self._conn

    async def _table(self, schema: str, table: str, roles: tuple[str, ...]) -> TableInfo | None:
        key = (schema, table, roles)
        if key not in self._tables:
            self._tables[key] = await table_info(await self._connection(), schema, table, roles)
        return self._tables[key]

    async def change(self, change: RowChange, committed: datetime, matches: list[Match]) -> int:
        """Deliver one change to the subscriptions it matched by table and action."""
        roles = tuple(sorted({entry.claims.role for entry, _ in matches}))
        table = await self._table(change.schema, change.table, roles)
        if table is None:
            return 0
        values = ChangeValues.of(change)
        new_run = FilterRun(change.new)
        old_run = FilterRun(change.old) if change.kind == "DELETE" else None
        for _, sub in matches:
            for run in (new_run, old_run):
                if run is not None and sub.filters:
                    run.collect(sub.filters)
        for run in (new_run, old_run):
            if run is not None:
                await run.resolve(await self._connection())
        when = commit_timestamp(committed)
        pushed = 0
        for role in roles:
            mine = [m for m in matches if m[0].claims.role == role]
            groups = sorted({sub.select for _, sub in mine}, key=_select_order)
            error = self._error(change, values, table, role)
            if error is not None:  # to every subscription of the role, filters unchecked
                for select in groups:
                    group = [m for m in mine if m[1].select == select]
                    pushed += fan_out(error_data(change, error), group)
                continue
            visible = [
                m
                for m in mine
                if new_run.passes(m[1].filters)
                or (old_run is not None and old_run.passes(m[1].filters))
            ]
            if table.rls and change.kind != "DELETE":  # deletes are never RLS-checked
                visible = await self._rls_visible(change, table, values, visible)
            for select in groups:
                group = [m for m in visible if m[1].select == select]
                if group:
                    data = event_data(change, values, when, table, role, select)
                    pushed += fan_out(data, group)
        return pushed

    @staticmethod
    def _error(change: RowChange, values: ChangeValues, table: TableInfo, role: str) -> str | None:
        if change.kind == "DELETE":
            return None
        if not values.keys:
            return NO_PRIMARY_KEY
        if not values.keys <= table.selectable.get(role, frozenset()):
            return UNAUTHORIZED
        return None

    async def _rls_visible(
        self, change: RowChange, table: TableInfo, values: ChangeValues, candidates: list[Match]
    ) -> list[Match]:
        new = change.new or {}
        key = [
            (c.name, c.type_sql, new.get(c.name)) for c in table.columns if c.name in values.keys
        ]
        if len(key) != len(values.keys) or any(c not in new for c in values.keys):
            return []
        verdicts: dict[str, bool] = {}
        visible = []
        for entry, sub in candidates:
            if entry.claims_key not in verdicts:
                verdicts[entry.claims_key] = await self._rls.visible(
                    change.schema, change.table, key, entry.claims
                )
            if verdicts[entry.claims_key]:
                visible.append((entry, sub))
        return visible
