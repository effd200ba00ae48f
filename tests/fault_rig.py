"""The fault suite's rig: the embedded stack (`python -m gateway embedded`) and the gateway
(`python -m gateway` pointed at it, as at a hosted project) as two real processes on fixed
free ports, so either can be killed by pid and started again where clients expect it.

Each process logs to a file under the test's tmp_path (read by tests: what the supervisor
said, and that no secret was printed). Recovery times go to `fault_recovery.json` under
pytest's basetemp (README "What held" quotes them).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from ops.bench.probes import first_ready
from ops.bench.processes import free_port
from tests.fault_traffic import Conversation
from tests.gateway_helpers import PASSWORD, User
from tests.process_helpers import read_status, spawn, stop

STARTUP = 120.0
# Limits off that would refuse the suite's own traffic (one address, many sockets).
UNLIMITED = {
    "GATEWAY_LIMITS_SEND_RATE": "0",
    "GATEWAY_LIMITS_RESUME_RATE": "0",
    "GATEWAY_LIMITS_WS_HANDSHAKE_RATE": "0",
    "GATEWAY_LIMITS_WS_SOCKETS_PER_ADDRESS": "0",
}


@dataclass
class Rig:
    tmp: Path
    stack_env: dict[str, str]
    gateway_env: dict[str, str]
    status: dict[str, str] = field(default_factory=dict)
    stack: asyncio.subprocess.Process | None = None
    gateway: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_env['GATEWAY_SERVER_PORT']}"

    @property
    def api_url(self) -> str:
        return self.status["API URL"]

    @property
    def database_url(self) -> str:
        return self.status["DB URL"]

    @property
    def stack_log(self) -> Path:
        return self.tmp / "stack.log"

    def postmaster_pid(self) -> int:
        pidfile = Path(self.stack_env["GATEWAY_EMBEDDED_DATA_DIR"]) / "pgdata" / "postmaster.pid"
        return int(pidfile.read_text().split()[0])

    async def _spawn(self, args: tuple[str, ...], env: Mapping[str, str], log: Path) -> Any:
        with log.open("ab") as out:
            return await spawn(*args, env=env, stderr=out)

    async def start_stack(self) -> None:
        self.stack = await self._spawn(("embedded",), self.stack_env, self.stack_log)
        keys = ("API URL", "DB URL", "JWT secret", "anon key", "service_role key")
        self.status = await asyncio.wait_for(read_status(self.stack, keys), STARTUP)
        self.gateway_env.update(
            SUPABASE_URL=self.api_url,
            SUPABASE_KEY=self.status["anon key"],
            SUPABASE_SERVICE_KEY=self.status["service_role key"],
            JWT_SECRET=self.status["JWT secret"],
        )

    async def start_gateway(self) -> None:
        self.starts += 1
        log = self.tmp / f"gateway-{self.starts}.log"
        self.gateway = await self._spawn((), self.gateway_env, log)
        await self.until_ready()

    async def until_ready(self, timeout: float = STARTUP) -> None:
        """/readyz answers 200 within `timeout` (the benchmark's probe polls it)."""
        if await first_ready(self.gateway_url, time.monotonic() + timeout) is None:
            raise TimeoutError(f"/readyz not 200 within {timeout} s")

    async def conversations(self, count: int) -> list[Conversation]:
        """`count` sender/receiver pairs of new users, on this rig's gateway."""
        users = [await self.user() for _ in range(2 * count)]
        ws = self.gateway_url.replace("http", "ws", 1)
        return [Conversation(users[2 * i], users[2 * i + 1], ws, f"c{i}") for i in range(count)]

    async def rest_send(self, sender: User, to: User, text: str) -> tuple[int, Any]:
        """POST /api/chat/{to}/send on the gateway: (status, body)."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.gateway_url}/api/chat/{to.id}/send",
                json={"message_text": text},
                headers={"Authorization": f"Bearer {sender.token}"},
            ) as resp,
        ):
            return resp.status, await resp.json()

    @staticmethod
    async def kill(proc: asyncio.subprocess.Process | None) -> None:
        assert proc is not None and proc.returncode is None
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def user(self) -> User:
        """A confirmed user through Auth's admin API, with a token signed by the project's
        JWT secret as Auth signs its own."""
        email = f"f-{uuid.uuid4().hex[:10]}@example.test"
        key = self.status["service_role key"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.api_url}/auth/v1/admin/users",
                json={"email": email, "password": PASSWORD, "email_confirm": True},
                headers={"apikey": key, "Authorization": f"Bearer {key}"},
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()
            user_id = (await resp.json())["id"]
        now = int(time.time())
        claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated"}
        claims |= {"iat": now, "exp": now + 3600, "email": email}
        token = jwt.encode(claims, self.status["JWT secret"], algorithm="HS256")
        return User(user_id, email, token)


@asynccontextmanager
async def fault_rig(tmp: Path, **gateway_settings: str) -> AsyncIterator[Rig]:
    """Both processes started; both stopped (Ctrl-C, then SIGKILL) whatever happens."""
    data = tmp / "data"
    stack_env = {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DATA_DIR": str(data),
        "GATEWAY_EMBEDDED_POSTGRES_RESTART_DELAY_SECONDS": "3",
    }
    gateway_env = {
        **os.environ,
        **UNLIMITED,
        "GATEWAY_SERVER_PORT": str(free_port()),
        **gateway_settings,
    }
    rig = Rig(tmp, stack_env, gateway_env)
    try:
        await rig.start_stack()
        await rig.start_gateway()
        yield rig
    finally:
        for proc in (rig.gateway, rig.stack):
            if proc is not None:
                await stop(proc)


def record_recovery(basetemp: Path, scenario: str, seconds: float, **facts: Any) -> None:
    """Adds one scenario's recovery time to basetemp/fault_recovery.json, and prints it."""
    path = basetemp / "fault_recovery.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results[scenario] = {"recovery_seconds": round(seconds, 3), **facts}
    path.write_text(json.dumps(results, indent=2, sort_keys=True))
    print(f"\nfault {scenario}: recovered in {seconds:.2f} s {facts}")
