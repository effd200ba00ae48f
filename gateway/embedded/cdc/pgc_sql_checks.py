"""One channel's SQL filter checks over a batch of its changes, under one time budget.

A filter is the subscriber's own expression run by PostgreSQL: a regex can backtrack for
minutes. So these checks run on the channel's own queue (never on the ordered path), at
most `FILTER_SLOTS` batches at a time, each statement in a read-only transaction whose
statement_timeout is what is left of the batch's budget. Running out raises FilterTimeout,
and the caller shuts that channel down. Waiting for a slot does not count against it.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway.embedded.cdc.pgc_filters import SqlCheck, evaluate

log = logging.getLogger(__name__)

# Batches of SQL filter checks that may run at once: at most this many PostgreSQL backends
# ever evaluate subscribers' expressions, whatever the number of subscribers.
FILTER_SLOTS = 2


class FilterTimeout(Exception):
    """A channel's filters took longer than their budget."""


async def check(
    pool: asyncpg.Pool, slots: asyncio.Semaphore, budget_ms: int, checks: list[SqlCheck]
) -> dict[SqlCheck, bool]:
    """The verdict of every check; raises FilterTimeout when the budget runs out."""
    async with slots, pool.acquire() as conn:
        deadline = asyncio.get_running_loop().time() + budget_ms / 1000
        try:
            return dict(zip(checks, await _timed(conn, deadline, checks), strict=True))
        except asyncpg.QueryCanceledError:
            raise FilterTimeout from None
        except asyncpg.PostgresError:
            pass
        results: dict[SqlCheck, bool] = {}
        for one in checks:  # one failing check must not sink the others
            try:
                results[one] = (await _timed(conn, deadline, [one]))[0]
            except asyncpg.QueryCanceledError:
                raise FilterTimeout from None
            except asyncpg.PostgresError as err:
                # Only the code: PostgreSQL's error text may quote row values.
                log.warning(
                    "postgres_changes filter %s on type %s failed: %s", one[1], one[0], err.sqlstate
                )
                results[one] = False
        return results


async def _timed(conn: asyncpg.Connection, deadline: float, checks: list[SqlCheck]) -> list[bool]:
    remaining_ms = int((deadline - asyncio.get_running_loop().time()) * 1000)
    if remaining_ms < 1:
        raise FilterTimeout
    await conn.execute(f"begin read only; set local statement_timeout = {remaining_ms}")
    try:
        verdicts = await evaluate(conn, checks)
    except asyncpg.PostgresError:
        await conn.execute("rollback")
        raise
    # Cancelled mid-statement, the pool's release waits for the cancel and rolls back.
    await conn.execute("rollback")
    return verdicts
