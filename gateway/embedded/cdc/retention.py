"""Delete realtime.messages rows older than 72 hours, as Supabase drops old partitions."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger(__name__)

RETENTION = "72 hours"
SWEEP_EVERY_SECONDS = 3600.0


async def sweep(pool: asyncpg.Pool) -> int:
    deleted: str = await pool.execute(
        f"delete from realtime.messages where inserted_at < now() - interval '{RETENTION}'"
    )
    return int(deleted.split()[-1])


async def sweep_forever(pool: asyncpg.Pool) -> None:
    while True:
        try:
            await sweep(pool)
        except (asyncpg.PostgresError, OSError) as err:
            log.warning("realtime.messages retention sweep failed: %s", err)
        await asyncio.sleep(SWEEP_EVERY_SECONDS)
