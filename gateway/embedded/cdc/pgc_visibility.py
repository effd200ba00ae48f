"""Is a streamed transaction visible yet? The WAL reader receives a commit as soon as its
record is flushed, and PostgreSQL only then takes the xid out of the ProcArray (later still
when a synchronous standby must confirm it first). A query in that window does not see the
transaction's rows, so an RLS check made then would answer from the snapshot before it.

The RLS check reads `pg_current_snapshot()` in the same statement (so the same snapshot) as
its query; `visible` tells from it whether that answer counts, and `wait_visible` polls fresh
snapshots, briefly, until the transaction is in them. Supabase's poller reads the slot later
and never meets the window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

# pg_snapshot as asyncpg decodes it: (xmin, xmax, xip), 64-bit transaction ids.
Snapshot = tuple[int, int, Sequence[int]]

WAIT_SECONDS = 2.0  # in practice the window lasts microseconds
FIRST_POLL_SECONDS = 0.001
LAST_POLL_SECONDS = 0.05

_XID_SPAN = 1 << 32


def full_xid(xid: int, snapshot: Snapshot) -> int:
    """pgoutput's 32-bit xid widened to the snapshot's 64-bit ids. A just-committed xid is
    within 2^31 of the snapshot's xmax on either side (it may be xmax itself or newer while
    it is still in the ProcArray)."""
    xmax = snapshot[1]
    delta = (xid - xmax) % _XID_SPAN
    if delta >= _XID_SPAN // 2:
        delta -= _XID_SPAN
    return xmax + delta


def visible(xid: int, snapshot: Snapshot) -> bool:
    """Does `snapshot` see the committed transaction `xid` (pgoutput's 32-bit xid)?"""
    xmin, xmax, running = snapshot
    full = full_xid(xid, snapshot)
    return full < xmin or (full < xmax and full not in running)


async def wait_visible(conn: asyncpg.Connection, xid: int, seconds: float = WAIT_SECONDS) -> bool:
    """Poll new snapshots on `conn` (READ COMMITTED: one per statement) until the committed
    transaction `xid` is visible; False if it is not within `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = FIRST_POLL_SECONDS
    while True:
        if visible(xid, await conn.fetchval("select pg_catalog.pg_current_snapshot()")):
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, LAST_POLL_SECONDS)
