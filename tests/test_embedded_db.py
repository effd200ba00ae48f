"""as_role: the transaction PostgREST would run — role and claims set, read-only when asked,
committed or rolled back as one unit — with claims quoted safely whatever they contain."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.embedded.db import as_role, create_pool
from gateway.embedded.keys import Claims

TRICKY = "o'brien\\'; drop table public.messages; --@example.test ✓"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_claims_reach_sql_exactly_whatever_they_contain(pool: asyncpg.Pool) -> None:
    claims = Claims(
        {"sub": "11111111-1111-1111-1111-111111111111", "role": "authenticated", "email": TRICKY}
    )
    async with as_role(pool, claims, headers={"X-Quote": "it's"}) as conn:
        row = await conn.fetchrow(
            "select current_user, auth.uid()::text as uid, auth.email() as email,"
            " current_setting('request.headers')::jsonb ->> 'x-quote' as header"
        )
    assert dict(row) == {
        "current_user": "authenticated",
        "uid": "11111111-1111-1111-1111-111111111111",
        "email": TRICKY,
        "header": "it's",
    }
    async with pool.acquire() as conn:
        assert await conn.fetchval("select to_regclass('public.messages')::text") == "messages"


async def test_read_only_transactions_refuse_writes(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with as_role(pool, Claims({"role": "service_role"}), read_only=True) as conn:
            await conn.execute("insert into public.chats (kind) values ('group')")


async def test_an_error_rolls_everything_back_and_the_settings_vanish(pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError):
        async with as_role(pool, Claims({"role": "service_role"})) as conn:
            await conn.execute("insert into public.chats (kind) values ('group')")
            raise RuntimeError("handler failed")
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from public.chats") == 0
        assert await conn.fetchval("select current_user") == "postgres"
        assert not await conn.fetchval("select current_setting('request.jwt.claims', true)")


async def test_a_committed_block_keeps_its_writes(pool: asyncpg.Pool) -> None:
    async with as_role(pool, Claims({"role": "service_role"})) as conn:
        await conn.execute("insert into public.chats (kind) values ('group')")
    async with pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from public.chats") == 1


async def test_a_connection_comes_back_clean_without_a_session_reset(database_url: str) -> None:
    """The pool skips asyncpg's per-release reset (a round trip, as PostgREST skips it):
    the next request on the same connection sees none of the previous one's role, claims
    or open transaction — including one whose handler left a transaction open."""
    single = await create_pool(database_url, min_size=1, max_size=1)
    try:
        user = Claims({"sub": "22222222-2222-2222-2222-222222222222", "role": "authenticated"})
        async with as_role(single, user) as conn:
            assert await conn.fetchval("select auth.uid()::text") == user.raw["sub"]
        async with single.acquire() as conn:
            await conn.execute("begin; select set_config('role', 'authenticated', true)")
        async with single.acquire() as conn:  # the handler's leftover was rolled back
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select current_user") == "postgres"
        async with as_role(single, Claims({"role": "anon"}), read_only=True) as conn:
            row = await conn.fetchrow("select current_user, auth.uid() is null as no_uid")
        assert dict(row) == {"current_user": "anon", "no_uid": True}
        async with single.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select current_user") == "postgres"
    finally:
        await single.close()
