"""What apply_rls asks the database about one change: the table's RLS flag and each
subscribed role's column privileges, and whether the changed row is visible to a subscriber.

Visibility is Supabase's `walrus_rls_stmt`: `select exists(select 1 from <table> where
<pk> = <value> ...)` run as the subscriber's role with its claims in request.jwt.claims.
Like Supabase, that is one query per subscriber per change; subscribers whose claims are
identical share one. The checks of a batch of changes share one read-only transaction
(READ COMMITTED: each query still sees what is committed when it runs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from gateway.embedded.db import context_sql
from gateway.embedded.keys import Claims
from gateway.embedded.rest.sql import ident, qualified

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


class RlsChecks:
    """Row visibility checks for a batch of changes, on one connection and transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._tx: asyncpg.transaction.Transaction | None = None

    async def close(self) -> None:
        """End the transaction and give the connection back."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await self._end()
        finally:
            await self._pool.release(conn)

    async def _end(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            await tx.rollback()  # read-only: nothing to keep

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        if self._tx is None:
            self._tx = self._conn.transaction(readonly=True)
            await self._tx.start()
        return self._conn

    async def visible(
        self, schema: str, table: str, key: Sequence[tuple[str, str, str | None]], claims: Claims
    ) -> bool:
        """Whether `claims` may select the row whose primary key is `key` (name, type, text)."""
        conditions = " and ".join(
            f"{ident(name)} = ${i}::text::{type_sql}"
            for i, (name, type_sql, _) in enumerate(key, 1)
        )
        sql = f"select exists(select 1 from {qualified(schema, table)} where {conditions})"
        conn = await self._connection()
        try:
            settings = {"statement_timeout": STATEMENT_TIMEOUT_MS}
            await conn.execute(context_sql(claims, "GET", settings=settings))
            return bool(await conn.fetchval(sql, *(value for _, _, value in key)))
        except (asyncpg.PostgresError, ValueError) as err:  # ValueError: a NUL in a claim
            # Supabase's poller would stall on this; here the one subscriber misses the row.
            log.warning(
                "postgres_changes RLS check on %s.%s as %s failed: %s",
                schema,
                table,
                claims.role,
                getattr(err, "sqlstate", "a NUL in the claims"),
            )
            await self._end()
            return False
