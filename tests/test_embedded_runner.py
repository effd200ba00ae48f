"""`python -m gateway embedded` as a user runs it: a real child process that starts
PostgreSQL, prints its status, serves the API and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import asyncpg

from ops.bench.processes import free_port
from tests.conftest import Cluster, drop_database, fresh_database
from tests.process_helpers import read_status, running, stop

STATUS_KEYS = ("API URL", "DB URL", "JWT secret", "anon key", "service_role key")


def stack_env(data_dir: Path, db_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": "0",
        "GATEWAY_EMBEDDED_DB_PORT": str(db_port),
        "GATEWAY_EMBEDDED_DATA_DIR": str(data_dir),
    }


async def test_embedded_command_serves_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running("embedded", env=stack_env(data_dir, free_port())) as proc:
        status = await read_status(proc, STATUS_KEYS)
        assert status["anon key"].startswith("eyJ")
        assert status["JWT secret"] == "super-secret-jwt-token-with-at-least-32-characters-long"
        async with aiohttp.ClientSession() as http, http.get(status["API URL"] + "/health") as resp:
            assert resp.status == 200
        conn = await asyncpg.connect(status["DB URL"])
        try:
            assert await conn.fetchval("show wal_level") == "logical"
            applied = "select count(*) from gateway_migrations.schema_migrations"
            assert await conn.fetchval(applied) > 0
        finally:
            await conn.close()
        assert await stop(proc) == 0
    # PostgreSQL was stopped with it.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "data", free_port())
    async with running("embedded", env=env) as proc:
        conn = await asyncpg.connect((await read_status(proc, STATUS_KEYS))["DB URL"])
        await conn.execute(
            "insert into auth.users (id, email)"
            " values ('11111111-1111-1111-1111-111111111111', 'kept@example.test')"
        )
        await conn.close()
        assert await stop(proc) == 0
    async with running("embedded", env=env) as proc:
        conn = await asyncpg.connect((await read_status(proc, STATUS_KEYS))["DB URL"])
        try:
            assert await conn.fetchval("select email from auth.users") == "kept@example.test"
        finally:
            await conn.close()
        assert await stop(proc) == 0


async def test_a_configured_database_url_is_used_instead_of_starting_one(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    name = await fresh_database(pg_cluster, migrated=False, prefix="given_")
    try:
        env = {
            **stack_env(tmp_path / "data", free_port()),
            "GATEWAY_EMBEDDED_DATABASE_URL": pg_cluster.url(name),
        }
        async with running("embedded", env=env) as proc:
            status = await read_status(proc, STATUS_KEYS)
            assert status["DB URL"] == pg_cluster.url(name)
            conn = await asyncpg.connect(pg_cluster.url(name))
            try:  # bootstrapped and migrated in place
                assert await conn.fetchval("select to_regclass('public.messages')::text")
                assert await conn.fetchval("select to_regclass('auth.users')::text")
            finally:
                await conn.close()
            assert await stop(proc) == 0
        assert not (tmp_path / "data" / "pgdata").exists()  # no cluster of its own
    finally:
        await drop_database(pg_cluster, name)
