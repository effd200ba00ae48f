"""The reader thread's normal (non-replication) connection: catalog lookups the WAL stream
needs, and the advisory lock that tells other starts that our slot is alive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg2

from gateway.embedded.wal.slots import LIVENESS_LOCK_CLASS
from gateway.embedded.wal.typenames import TypeRow

CONNECT_PARAMS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class PgCatalog:
    """Blocking lookups over one autocommit connection; use from one thread only.

    The connection outlives replication connections, so the slot stays claimed while
    the reader reconnects after its walsender was ended.
    """

    def __init__(self, dsn: str, slot_name: str) -> None:
        self._conn = psycopg2.connect(
            dsn, application_name=f"{slot_name} catalog", **CONNECT_PARAMS
        )
        try:
            self._conn.autocommit = True
            # Held until this connection closes: see slots.drop_stale_slots.
            self._run(
                "select pg_advisory_lock_shared(%s, hashtext(%s))", (LIVENESS_LOCK_CLASS, slot_name)
            )
        except BaseException:
            self._conn.close()
            raise

    def alive(self) -> bool:
        """False once the connection is lost (a server restart): open a new one then."""
        if self._conn.closed:
            return False
        try:
            self._run("select 1", ())
        except psycopg2.Error:
            return False
        return True

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows

    def types(self, type_oids: Iterable[int]) -> dict[int, TypeRow]:
        # A true array is what to_jsonb treats as one (PostgreSQL's get_element_type).
        rows = self._run(
            "select oid::int8, typname::text, typbasetype::int8,"
            " case when typlen = -1 and typsubscript = 'array_subscript_handler'::regproc"
            " then typelem::int8 else 0 end"
            " from pg_type where oid = any(%s::int8[]::oid[])",
            (list(type_oids),),
        )
        return {
            int(oid): TypeRow(str(name), int(base), int(elem)) for oid, name, base, elem in rows
        }

    def primary_key(self, relation_id: int) -> frozenset[str]:
        rows = self._run(
            "select a.attname::text from pg_index i"
            " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
            " where i.indrelid = %s::int8::oid and i.indisprimary",
            (relation_id,),
        )
        return frozenset(str(name) for (name,) in rows)

    def close(self) -> None:
        self._conn.close()
