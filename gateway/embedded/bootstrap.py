"""Apply bootstrap.sql: the roles, schemas and functions a Supabase project starts with."""

from __future__ import annotations

from importlib import resources

import asyncpg

# Serialises concurrent bootstraps of one database (two embedded servers starting at once).
_LOCK_KEY = 0x6277_6273  # arbitrary, fixed


def bootstrap_sql() -> str:
    return resources.files("gateway.embedded").joinpath("bootstrap.sql").read_text("utf-8")


async def apply_bootstrap(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(bootstrap_sql())
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
