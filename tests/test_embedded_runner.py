"""`python -m gateway embedded` as a user runs it: a real child process that starts
PostgreSQL, prints its status, serves the API and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
STATUS_KEYS = ("API URL", "DB URL", "JWT secret", "anon key", "service_role key")


@dataclass
class Running:
    proc: asyncio.subprocess.Process
    status: dict[str, str]


async def read_status(proc: asyncio.subprocess.Process) -> dict[str, str]:
    status: dict[str, str] = {}
    assert proc.stdout is not None
    while not all(key in status for key in STATUS_KEYS):
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise AssertionError("the process ended before printing its status")
        match = re.match(r"\s*([^:]+):\s(.+)$", line.rstrip("\n"))
        if match:
            status[match[1].strip()] = match[2].strip()
    return status


@asynccontextmanager
async def embedded_process(data_dir: Path, db_port: int) -> AsyncIterator[Running]:
    env = {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": "0",
        "GATEWAY_EMBEDDED_DB_PORT": str(db_port),
        "GATEWAY_EMBEDDED_DATA_DIR": str(data_dir),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "embedded",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        status = await asyncio.wait_for(read_status(proc), 60)
        yield Running(proc, status)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    return await asyncio.wait_for(proc.wait(), 60)


async def test_embedded_command_serves_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with embedded_process(data_dir, free_port()) as running:
        assert running.status["anon key"].startswith("eyJ")
        assert (
            running.status["JWT secret"]
            == "super-secret-jwt-token-with-at-least-32-characters-long"
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(running.status["API URL"] + "/health") as resp:
                assert resp.status == 200
        conn = await asyncpg.connect(running.status["DB URL"])
        try:
            assert await conn.fetchval("show wal_level") == "logical"
            assert (
                await conn.fetchval("select count(*) from gateway_migrations.schema_migrations") > 0
            )
        finally:
            await conn.close()
        assert await stop(running.proc) == 0
    # PostgreSQL was stopped with it.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    async with embedded_process(data_dir, port) as running:
        conn = await asyncpg.connect(running.status["DB URL"])
        await conn.execute(
            "insert into auth.users (id, email)"
            " values ('11111111-1111-1111-1111-111111111111', 'kept@example.test')"
        )
        await conn.close()
        assert await stop(running.proc) == 0
    async with embedded_process(data_dir, port) as running:
        conn = await asyncpg.connect(running.status["DB URL"])
        try:
            assert await conn.fetchval("select email from auth.users") == "kept@example.test"
        finally:
            await conn.close()
        assert await stop(running.proc) == 0
