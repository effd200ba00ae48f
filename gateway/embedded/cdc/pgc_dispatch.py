"""The ordered side of Postgres Changes: each committed change, in commit order, is handed to
the queue of every channel that may want it (subscribed to its table and action, or still
being validated). The table's catalog facts for the roles involved are read once per batch.

Nothing here waits on a subscriber: the RLS and filter checks run on each channel's queue
(pgc_worker), so the only work on this path is the registry lookup and the catalog read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from gateway.embedded.cdc.pgc_job import ChangeJob
from gateway.embedded.cdc.pgc_registry import ChannelEntry, Registry
from gateway.embedded.cdc.pgc_rls import TableInfo, table_info
from gateway.embedded.wal.changes import RowChange, Transaction

log = logging.getLogger(__name__)

Offer = Callable[[ChannelEntry, ChangeJob], None]
TableKey = tuple[str, str, tuple[str, ...]]


async def route(
    pool: asyncpg.Pool,
    registry: Registry,
    batch: list[tuple[RowChange, Transaction]],
    offer: Offer,
) -> None:
    """Queue every change of `batch` for the channels it may concern, in order."""
    tables: dict[TableKey, TableInfo | None] = {}
    conn: asyncpg.Connection | None = None
    try:
        for change, transaction in batch:
            entries = registry.candidates(change.schema, change.table, change.kind)
            if not entries:
                continue
            roles = tuple(sorted({entry.claims.role for entry in entries}))
            key = (change.schema, change.table, roles)
            try:
                if key not in tables:
                    if conn is None:
                        conn = await pool.acquire()
                    tables[key] = await table_info(conn, change.schema, change.table, roles)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
                # Not the error text: PostgreSQL's may quote row values.
                code = getattr(err, "sqlstate", None) or type(err).__name__
                log.error(
                    "postgres_changes lost a change of %s.%s: %s", change.schema, change.table, code
                )
                continue
            table = tables[key]
            tables_by_role: dict[str, TableInfo | None] = dict.fromkeys(roles, table)
            job = ChangeJob(change, transaction.xid, transaction.commit_time, tables_by_role)
            for entry in entries:
                offer(entry, job)
    finally:
        if conn is not None:
            await pool.release(conn)
