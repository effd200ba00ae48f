"""The newcomer's path, as processes: `python -m gateway` starts the embedded stack and the
gateway, `python -m gateway token` gives two tokens, two WebSocket clients chat, recover
after a disconnect and see each other online; Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import jwt

from tests.conftest import free_port
from tests.gateway_helpers import Client

ROOT = Path(__file__).resolve().parent.parent


async def run(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


async def wait_for_line(proc: asyncio.subprocess.Process, pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"the gateway exited before printing {pattern!r}")
        if match := re.search(pattern, line):
            return match


async def test_two_commands_two_tokens_two_clients(tmp_path: Path) -> None:
    gateway_port, api_port, db_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_SERVER_PORT": str(gateway_port),
        "GATEWAY_EMBEDDED_API_PORT": str(api_port),
        "GATEWAY_EMBEDDED_DB_PORT": str(db_port),
        "GATEWAY_EMBEDDED_DATA_DIR": str(tmp_path / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        base = (await asyncio.wait_for(wait_for_line(proc, r"Gateway:\s+(\S+)"), 120))[1]
        alice = await run("token", "alice@example.com", env=env)
        bob = await run("token", "bob@example.com", env=env)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/chats", params={"token": alice}) as resp:
                assert resp.status == 200
            ids = {
                name: jwt.decode(token, options={"verify_signature": False})["sub"]
                for name, token in (("alice", alice), ("bob", bob))
            }
            ws_base = base.replace("http", "ws", 1)
            a = Client(await http.ws_connect(f"{ws_base}/ws/{ids['bob']}?token={alice}"))
            b = Client(await http.ws_connect(f"{ws_base}/ws/{ids['alice']}?token={bob}"))
            await a.send({"type": "chat", "message": "hi bob"})
            assert (await b.next("message"))["message"]["message_text"] == "hi bob"
            assert (await a.next("presence", timeout=20))["user_id"] == ids["bob"]
            await b.close()
            await a.send({"type": "chat", "message": "missed you"})
            await a.next("ack")
            b = Client(
                await http.ws_connect(f"{ws_base}/ws/{ids['alice']}?token={bob}&since_seq=1")
            )
            assert (await b.next("message"))["message"]["message_text"] == "missed you"
            await a.close()
            await b.close()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # The embedded PostgreSQL stopped with it.
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


async def test_serving_a_configured_supabase_project(tmp_path: Path) -> None:
    """With SUPABASE_URL and keys (as for hosted Supabase) the gateway starts no stack of
    its own: here the project is an embedded stack started separately."""
    env = {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": "0",
        "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DATA_DIR": str(tmp_path / "data"),
    }
    stack = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "embedded",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    gateway: asyncio.subprocess.Process | None = None
    try:
        status = {}
        for key in ("API URL", "JWT secret", "anon key", "service_role key"):
            status[key] = (await asyncio.wait_for(wait_for_line(stack, rf"{key}:\s+(\S+)"), 60))[1]
        project_env = {
            **os.environ,
            "SUPABASE_URL": status["API URL"],
            "SUPABASE_KEY": status["anon key"],
            "SUPABASE_SERVICE_KEY": status["service_role key"],
            "JWT_SECRET": status["JWT secret"],
            "GATEWAY_SERVER_PORT": "0",
        }
        gateway = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            cwd=ROOT,
            env=project_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = (await asyncio.wait_for(wait_for_line(gateway, r"Gateway:\s+(\S+)"), 60))[1]
        async with aiohttp.ClientSession() as http:
            signup = {"email": "carol@example.com", "password": "pw-123456"}
            async with http.post(
                f"{status['API URL']}/auth/v1/signup",
                json=signup,
                headers={"apikey": status["anon key"]},
            ) as resp:
                assert resp.status == 200
            # On a configured project the token command only signs in.
            token = await run(
                "token", "carol@example.com", "--password", "pw-123456", env=project_env
            )
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/api/chats", params={"token": token}) as resp:
                assert resp.status == 200 and (await resp.json()) == {"chats": []}
        gateway.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(gateway.wait(), 60) == 0
    finally:
        for proc in (gateway, stack):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
