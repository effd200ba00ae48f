from __future__ import annotations

import asyncio

import aiohttp
import asyncpg

from tests.conftest import EmbeddedStack


async def test_embedded_server_answers_health(embedded: EmbeddedStack) -> None:
    async with aiohttp.ClientSession() as session, session.get(embedded.url + "/health") as resp:
        assert resp.status == 200


async def test_fresh_database_has_the_schema(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select count(*) from public.messages") == 0
    finally:
        await conn.close()


async def test_tests_run_on_the_loop_the_servers_ship_with() -> None:
    import uvloop

    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
