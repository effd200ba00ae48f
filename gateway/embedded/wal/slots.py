"""The WAL stream's logical replication slots, managed with SQL over a normal connection.

Each stream creates a fresh persistent pgoutput slot named `<prefix>_<random>` and drops
it on stop. While a stream runs, a session of it holds a shared advisory lock keyed on the
slot name; a slot with our prefix that is inactive and whose lock is free belongs to a run
that crashed, and is dropped at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Sequence

import asyncpg

log = logging.getLogger(__name__)

# First key of the two-key advisory lock space ('WALS'); the second is hashtext(slot_name).
LIVENESS_LOCK_CLASS = 0x57414C53

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,39}")
_DROP_POLL_SECONDS = 0.02


def validate_prefix(prefix: str) -> str:
    """Slot names allow lowercase letters, digits and '_' up to 63 characters."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"slot_prefix {prefix!r} must be 1-40 lowercase letters, digits or '_', "
            "starting with a letter"
        )
    return prefix


def new_slot_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


async def missing_publications(conn: asyncpg.Connection, names: Sequence[str]) -> list[str]:
    found = await conn.fetch("select pubname from pg_publication where pubname = any($1)", names)
    present = {row["pubname"] for row in found}
    return [name for name in names if name not in present]


async def claim(conn: asyncpg.Connection, slot_name: str) -> None:
    """Mark the slot as owned by a live stream for as long as `conn` stays open."""
    await conn.execute(
        "select pg_advisory_lock_shared($1, hashtext($2))", LIVENESS_LOCK_CLASS, slot_name
    )


async def create_slot(conn: asyncpg.Connection, slot_name: str) -> int:
    """Create a persistent pgoutput slot; returns the LSN its changes start after.

    PostgreSQL waits here for transactions already running to finish, so every
    transaction the slot streams committed after this call returned.
    """
    lsn = await conn.fetchval(
        "select lsn from pg_create_logical_replication_slot($1, 'pgoutput')", slot_name
    )
    return int(lsn)


async def drop_stale_slots(conn: asyncpg.Connection, prefix: str) -> list[str]:
    """Drop this database's inactive slots named `<prefix>_*` that no live stream owns."""
    rows = await conn.fetch(
        "select slot_name from pg_replication_slots"
        " where database = current_database() and slot_type = 'logical' and not active"
        " and starts_with(slot_name, $1)",
        prefix + "_",
    )
    dropped = []
    for row in rows:
        name = row["slot_name"]
        owned = not await conn.fetchval(
            "select pg_try_advisory_lock($1, hashtext($2))", LIVENESS_LOCK_CLASS, name
        )
        if owned:
            continue
        try:
            await conn.execute("select pg_drop_replication_slot($1)", name)
            dropped.append(name)
            log.info("dropped stale replication slot %s", name)
        except (asyncpg.ObjectInUseError, asyncpg.UndefinedObjectError):
            pass  # a stream resumed it, or someone else dropped it, meanwhile
        finally:
            await conn.execute(
                "select pg_advisory_unlock($1, hashtext($2))", LIVENESS_LOCK_CLASS, name
            )
    return dropped


async def drop_slot(
    conn: asyncpg.Connection, slot_name: str, *, grace_seconds: float = 5.0
) -> None:
    """Drop the slot once its walsender has gone; after `grace_seconds`, end that walsender.

    A closed replication connection frees its slot only when the server notices, a few
    milliseconds later, so the drop is retried until then. Gives up (logged; the next
    start drops the slot as stale) if it is still held after twice the grace period.
    """
    started = time.monotonic()
    while True:
        pid = await conn.fetchval(
            "select coalesce(active_pid, 0) from pg_replication_slots where slot_name = $1",
            slot_name,
        )
        if pid is None:
            return
        if pid == 0:
            try:
                await conn.execute("select pg_drop_replication_slot($1)", slot_name)
                return
            except asyncpg.UndefinedObjectError:
                return
            except asyncpg.ObjectInUseError:
                pass
        waited = time.monotonic() - started
        if waited > 2 * grace_seconds:
            log.warning("slot %s is still in use by pid %s; not dropped", slot_name, pid)
            return
        if pid and waited > grace_seconds:
            log.warning("ending walsender %s that still holds slot %s", pid, slot_name)
            await conn.execute("select pg_terminate_backend($1)", pid)
        await asyncio.sleep(_DROP_POLL_SECONDS)
