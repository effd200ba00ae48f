"""Role settings reach the Data API's transactions as PostgREST's impersonated role
settings do: the role's own settings (database-specific ones first), its default
isolation level, only settings a session may set, and authenticator's as the default.

Followed: PostgREST src/library/PostgREST/Config/Database.hs (queryRoleSettings: roles
granted to authenticator, `pg_settings.context = 'user'` or SET granted, isolation read
from default_transaction_isolation) and Query/PreQuery.hs (set_config before the role).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.embedded.bootstrap import bootstrap_sql
from gateway.embedded.db import as_role, create_pool
from gateway.embedded.keys import Claims
from gateway.embedded.role_settings import RoleSettings

SHOW = (
    "select current_setting('statement_timeout') as timeout,"
    " current_setting('transaction_isolation') as isolation,"
    " current_setting('log_min_duration_statement') as logged"
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def _in_this_database(pool: asyncpg.Pool, role: str, setting: str, value: str) -> None:
    async with pool.acquire() as conn:
        database = await conn.fetchval("select current_database()")
        await conn.execute(f'alter role {role} in database "{database}" set {setting} = {value}')


async def _seen(pool: asyncpg.Pool, role: str) -> dict[str, str]:
    config = await RoleSettings(pool).for_role(role)
    async with as_role(pool, Claims({"role": role}), role_config=config) as conn:
        return dict(await conn.fetchrow(SHOW))


async def test_a_setting_for_this_database_overrides_the_global_one(pool: asyncpg.Pool) -> None:
    await _in_this_database(pool, "authenticated", "statement_timeout", "'1500ms'")
    seen = await _seen(pool, "authenticated")
    assert seen["timeout"] == "1500ms"
    assert (await _seen(pool, "anon"))["timeout"] == "3s"


async def test_a_role_default_isolation_level_is_the_transactions(pool: asyncpg.Pool) -> None:
    await _in_this_database(pool, "service_role", "default_transaction_isolation", "'serializable'")
    assert (await _seen(pool, "service_role"))["isolation"] == "serializable"
    assert (await _seen(pool, "authenticated"))["isolation"] == "read committed"


async def test_settings_a_session_may_not_set_are_left_out(pool: asyncpg.Pool) -> None:
    """log_min_duration_statement is superuser-only: PostgREST's authenticator could not
    set it, so neither does the superuser pool on the role's behalf."""
    await _in_this_database(pool, "authenticated", "log_min_duration_statement", "'0'")
    assert (await _seen(pool, "authenticated"))["logged"] == "-1"


async def test_a_role_without_settings_gets_authenticators(pool: asyncpg.Pool) -> None:
    """service_role has no timeout of its own: on Supabase it runs with authenticator's
    8 s (its login's), and so here; so does a role not granted to authenticator."""
    assert (await _seen(pool, "service_role"))["timeout"] == "8s"
    await _in_this_database(pool, "authenticator", "statement_timeout", "'2s'")
    assert (await _seen(pool, "service_role"))["timeout"] == "2s"
    assert (await _seen(pool, "supabase_auth_admin"))["timeout"] == "2s"
    assert (await _seen(pool, "authenticated"))["timeout"] == "8s"


async def test_a_timeout_changed_by_the_user_survives_the_bootstrap(database_url: str) -> None:
    """The bootstrap runs on every start; it sets Supabase's timeouts only where a role
    has none, so `alter role authenticated set statement_timeout = …` (Supabase's docs)
    is kept. Rolled back: role settings are cluster-wide."""
    conn = await asyncpg.connect(database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("alter role authenticated set statement_timeout = '15s'")
            await conn.execute(bootstrap_sql())
            settings = await conn.fetchval(
                "select setconfig from pg_db_role_setting"
                " where setrole = 'authenticated'::regrole and setdatabase = 0"
            )
            assert "statement_timeout=15s" in settings
        finally:
            await tx.rollback()
    finally:
        await conn.close()
