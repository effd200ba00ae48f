"""What apply_rls asks the database about one change: the table's RLS flag and each
subscribed role's column privileges, and whether the changed row is visible to a subscriber.

Visibility is Supabase's `walrus_rls_stmt`: `select exists(select 1 from <table> where
<pk> = <value> ...)` run as the subscriber's role with its claims in request.jwt.claims.
Like Supabase, that is one query per subscriber per change. A subscriber's checks over a
batch of its changes share one read-only transaction (READ COMMITTED: each query still sees
what is committed when it runs). The query also reads its snapshot: one taken before the
change's transaction became visible cannot judge it, so the check is made again once the
transaction is visible (pgc_visibility).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from gateway.embedded.cdc import pgc_visibility
from gateway.embedded.db import context_sql
from gateway.embedded.keys import Claims
from gateway.embedded.rest.sql import ident, qualified
from gateway.embedded.wal.changes import RowChange

log = logging.getLogger(__name__)

# A policy that hangs must not stall every subscriber's changes for long.
STATEMENT_TIMEOUT_MS = "5000"

_TABLE = """
select c.relrowsecurity, a.attname, t.typname, a.atttypid::regtype::text as type_sql,
       array(select case when to_regrole(u.r) is null then false
                         else pg_catalog.has_column_privilege(u.r, c.oid, a.attnum, 'SELECT') end
             from unnest($3::text[]) with ordinality u(r, i) order by u.i) as selectable
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_catalog.pg_type t on t.oid = a.atttypid
where n.nspname = $1 and c.relname = $2
order by a.attnum
"""


@dataclass(frozen=True, slots=True)
class TableColumn:
    name: str
    typname: str
    type_sql: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A published table as the subscribed roles see it, columns in attnum order."""

    rls: bool
    columns: tuple[TableColumn, ...]
    selectable: dict[str, frozenset[str]]  # role -> names of the columns it may select

    def column(self, name: str) -> TableColumn | None:
        return next((c for c in self.columns if c.name == name), None)


async def table_info(
    conn: asyncpg.Connection, schema: str, table: str, roles: Sequence[str]
) -> TableInfo | None:
    """None when the table no longer exists."""
    rows = await conn.fetch(_TABLE, schema, table, list(roles))
    if not rows:
        return None
    columns = tuple(TableColumn(r["attname"], r["typname"], r["type_sql"]) for r in rows)
    selectable = {
        role: frozenset(r["attname"] for r in rows if r["selectable"][i])
        for i, role in enumerate(roles)
    }
    return TableInfo(rows[0]["relrowsecurity"], columns, selectable)


class RlsSession:
    """One subscriber's row visibility checks over a batch of its changes: one read-only
    transaction as its role with its claims, opened at the first check, while holding one of
    the `slots` (so RLS checks never take every pooled connection)."""

    def __init__(self, pool: asyncpg.Pool, claims: Claims, slots: asyncio.Semaphore) -> None:
        self._pool = pool
        self._claims = claims
        self._slots = slots
        self._conn: asyncpg.Connection | None = None
        self._open = False
        self._late: set[int] = set()  # xids that stayed invisible past the wait: wait once

    async def __aenter__(self) -> RlsSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._open and exc_info[0] is None:
                await conn.execute("rollback")  # read-only: nothing to keep
        finally:
            await self._pool.release(conn)  # rolls back what a cancelled check left open
            self._slots.release()

    async def visible(
        self, change: RowChange, xid: int, table: TableInfo, keys: frozenset[str]
    ) -> bool:
        """walrus_rls_stmt: may the subscriber select the changed row (found by its key), as
        of a snapshot that sees the change's transaction `xid`?"""
        new = change.new or {}
        key = [(c.name, c.type_sql, new.get(c.name)) for c in table.columns if c.name in keys]
        if len(key) != len(keys) or any(name not in new for name in keys):
            return False
        conditions = " and ".join(
            f"{ident(name)} = ${i}::text::{type_sql}"
            for i, (name, type_sql, _) in enumerate(key, 1)
        )
        relation = qualified(change.schema, change.table)
        sql = (
            f"select exists(select 1 from {relation} where {conditions}) as found,"
            " pg_catalog.pg_current_snapshot() as snapshot"
        )
        args = [value for _, _, value in key]
        try:
            conn = await self._begin()
            row = await conn.fetchrow(sql, *args)
            if not pgc_visibility.visible(xid, row["snapshot"]) and await self._wait(conn, xid):
                row = await conn.fetchrow(sql, *args)
            return bool(row["found"])
        except (asyncpg.PostgresError, ValueError) as err:  # ValueError: a NUL in a claim
            # Supabase's poller would stall on this; here the one subscriber misses the row.
            log.warning(
                "postgres_changes RLS check on %s.%s as %s failed: %s",
                change.schema,
                change.table,
                self._claims.role,
                getattr(err, "sqlstate", "a NUL in the claims"),
            )
            await self._rollback()
            return False

    async def _wait(self, conn: asyncpg.Connection, xid: int) -> bool:
        """Wait for a committed transaction to become visible; False if it did not in time
        (then its changes are judged on the older snapshot, as before the wait)."""
        if xid in self._late:
            return False
        if await pgc_visibility.wait_visible(conn, xid):
            return True
        self._late.add(xid)
        log.warning(
            "postgres_changes: transaction %d was not visible %.0f s after its commit streamed;"
            " its RLS checks used an earlier snapshot",
            xid,
            pgc_visibility.WAIT_SECONDS,
        )
        return False

    async def _begin(self) -> asyncpg.Connection:
        if self._conn is None:
            await self._slots.acquire()
            try:
                self._conn = await self._pool.acquire()
            except BaseException:
                self._slots.release()
                raise
        if not self._open:
            settings = {"statement_timeout": STATEMENT_TIMEOUT_MS}
            context = context_sql(self._claims, "GET", settings=settings)
            # READ COMMITTED whatever the default: each check needs a snapshot of its own.
            await self._conn.execute(f"begin isolation level read committed read only; {context}")
            self._open = True
        return self._conn

    async def _rollback(self) -> None:
        if self._open and self._conn is not None:
            self._open = False
            await self._conn.execute("rollback")
