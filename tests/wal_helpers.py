"""Helpers for the WAL stream tests: a running stream read with deadlines, and SQL
shortcuts for tables in the supabase_realtime publication."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from gateway.embedded.wal.changes import RowChange, Transaction
from gateway.embedded.wal.stream import WalStream

PUBLICATIONS = ("supabase_realtime", "supabase_realtime_messages_publication")
DEADLINE = 10.0
QUIET = 0.3  # how long "nothing arrives" waits


class Feed:
    """A started WalStream read one transaction at a time, acknowledged on receipt."""

    def __init__(self, stream: WalStream) -> None:
        self.stream = stream
        self._transactions = aiter(stream)

    async def next(self, deadline: float = DEADLINE, *, ack: bool = True) -> Transaction:
        transaction = await asyncio.wait_for(anext(self._transactions), deadline)
        if ack:
            self.stream.ack(transaction.end_lsn)
        return transaction

    async def take(self, count: int, deadline: float = DEADLINE) -> list[Transaction]:
        return [await self.next(deadline) for _ in range(count)]

    async def nothing(self, within: float = QUIET) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(self._transactions), within)


@asynccontextmanager
async def running_stream(
    database_url: str,
    publications: tuple[str, ...] = PUBLICATIONS,
    *,
    slot_prefix: str = "gateway_realtime",
    max_pending: int = 256,
    ack_timeout: float = 5.0,
) -> AsyncIterator[Feed]:
    stream = WalStream(
        database_url,
        publications,
        slot_prefix=slot_prefix,
        max_pending=max_pending,
        ack_timeout=ack_timeout,
    )
    await stream.start()
    try:
        yield Feed(stream)
    finally:
        await stream.stop()


async def publish_table(conn: asyncpg.Connection, name: str, columns: str) -> None:
    """Create public.<name> (columns as SQL) and add it to supabase_realtime."""
    await conn.execute(
        f"create table public.{name} ({columns});"
        f" alter publication supabase_realtime add table public.{name}"
    )


def rows(transaction: Transaction) -> list[tuple[str, str, dict[str, str | None] | None]]:
    """(kind, table, new) per change: the shape most assertions compare."""
    return [(c.kind, c.table, c.new) for c in transaction.changes]


def only_change(transaction: Transaction) -> RowChange:
    assert len(transaction.changes) == 1, transaction.changes
    return transaction.changes[0]


async def slot_names(conn: asyncpg.Connection) -> set[str]:
    found = await conn.fetch(
        "select slot_name from pg_replication_slots where database = current_database()"
    )
    return {r["slot_name"] for r in found}
