"""The newcomer's path, as processes: `python -m gateway` starts the embedded stack and the
gateway, `python -m gateway token` gives two tokens, two WebSocket clients chat, recover
after a disconnect and see each other online; Ctrl-C stops everything. And the hosted
path: with SUPABASE_URL and keys the gateway serves that project."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import jwt
import psutil  # type: ignore[import-untyped]

from ops.bench.processes import free_port
from tests.gateway_helpers import Client
from tests.process_helpers import read_status, run, running, stop, wait_for_line

STARTUP = 120.0


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    """The quick start's environment on free ports, its data under tmp_path."""
    return {
        **os.environ,
        "GATEWAY_SERVER_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_API_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DATA_DIR": str(tmp_path / "data"),
    }


async def test_two_commands_two_tokens_two_clients(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path)
    async with running(env=env) as gateway:
        base = (await wait_for_line(gateway, r"Gateway:\s+(\S+)"))[1]
        alice = await run("token", "alice@example.com", env=env)
        bob = await run("token", "bob@example.com", env=env)
        ids = {
            name: jwt.decode(token, options={"verify_signature": False})["sub"]
            for name, token in (("alice", alice), ("bob", bob))
        }
        ws_base = base.replace("http", "ws", 1)
        async with aiohttp.ClientSession() as http:
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
        assert await stop(gateway) == 0
    # The embedded PostgreSQL stopped with it.
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


async def test_a_killed_gateway_takes_its_embedded_stack_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves the launcher no chance to clean up: its embedded stack (told by the
    kernel that its parent died) stops by itself, PostgreSQL included."""
    env = _embedded_env(tmp_path)
    async with running(env=env) as gateway:
        await wait_for_line(gateway, r"Gateway:\s+(\S+)")
        children = psutil.Process(gateway.pid).children(recursive=True)
        assert len(children) >= 2  # the embedded stack and its PostgreSQL
        gateway.kill()
        await gateway.wait()
        _, alive = await asyncio.to_thread(psutil.wait_procs, children, timeout=60)
        for leftover in alive:  # the failure to report; do not leave them running
            leftover.kill()
        assert alive == []
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


async def test_serving_a_configured_supabase_project(tmp_path: Path) -> None:
    """With SUPABASE_URL and keys (as for hosted Supabase) the gateway starts no stack of
    its own: here the project is an embedded stack started separately."""
    stack_env = {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": "0",
        "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DATA_DIR": str(tmp_path / "data"),
    }
    async with running("embedded", env=stack_env) as stack:
        status = await read_status(stack, ("API URL", "JWT secret", "anon key", "service_role key"))
        project_env = {
            **os.environ,
            "SUPABASE_URL": status["API URL"],
            "SUPABASE_KEY": status["anon key"],
            "SUPABASE_SERVICE_KEY": status["service_role key"],
            "JWT_SECRET": status["JWT secret"],
            "GATEWAY_SERVER_PORT": "0",
        }
        async with running(env=project_env) as gateway:
            base = (await wait_for_line(gateway, r"Gateway:\s+(\S+)"))[1]
            async with aiohttp.ClientSession() as http:
                signup = {"email": "carol@example.com", "password": "pw-123456"}
                headers = {"apikey": status["anon key"]}
                url = f"{status['API URL']}/auth/v1/signup"
                async with http.post(url, json=signup, headers=headers) as resp:
                    assert resp.status == 200
                # On a configured project the token command only signs in.
                token = await run(
                    "token", "carol@example.com", "--password", "pw-123456", env=project_env
                )
                async with http.get(f"{base}/readyz") as resp:
                    assert resp.status == 200
                async with http.get(f"{base}/api/chats", params={"token": token}) as resp:
                    assert resp.status == 200 and (await resp.json()) == {"chats": []}
            assert await stop(gateway) == 0
