"""The container's pieces run as the image runs them, without Docker: the entrypoint
(check-config first, then the gateway, exec'd so `docker stop`'s SIGTERM stops it
gracefully), the embedded stack only when no SUPABASE_URL is set, and the HEALTHCHECK
command, healthy only when /readyz answers 200.

Followed: Docker's HEALTHCHECK contract (exit 0 healthy, 1 unhealthy) and `docker stop`
(SIGTERM to PID 1, SIGKILL after the grace period).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from ops.bench.processes import free_port
from tests.conftest import EmbeddedStack
from tests.process_helpers import wait_for_line

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "ops" / "docker" / "entrypoint.sh"
STARTUP = 120.0
STOP = 45.0  # the compose file's stop_grace_period


def _env(**values: str) -> dict[str, str]:
    """The image's environment: `python` is this interpreter, the gateway on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "GATEWAY_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["GATEWAY_SERVER_HOST"] = "127.0.0.1"
    env.update(values)
    return env


def _hosted(embedded: EmbeddedStack, port: int) -> dict[str, str]:
    return _env(
        SUPABASE_URL=embedded.url,
        SUPABASE_KEY=embedded.anon_key,
        SUPABASE_SERVICE_KEY=embedded.service_key,
        JWT_SECRET=embedded.config.jwt_secret,
        GATEWAY_SERVER_PORT=str(port),
    )


@asynccontextmanager
async def container(env: Mapping[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """The entrypoint as the image's PID 1; stopped as `docker stop` stops it."""
    proc = await asyncio.create_subprocess_exec(
        str(ENTRYPOINT),
        "serve",
        cwd=ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def docker_stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), STOP)


async def healthcheck(env: Mapping[str, str]) -> tuple[int, str]:
    """The image's HEALTHCHECK command, run as Docker runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,  # the image's `python`
        "-m",
        "ops.docker.healthcheck",
        cwd=ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def healthy(env: Mapping[str, str]) -> str:
    """Run the healthcheck until it passes (Docker retries it every interval too)."""

    async def attempt() -> str:
        while True:
            code, out = await healthcheck(env)
            if code == 0:
                return out
            await asyncio.sleep(0.2)  # another process's readiness: no event to wait on

    return await asyncio.wait_for(attempt(), STARTUP)


async def test_a_bad_setting_stops_the_container_before_anything_starts() -> None:
    env = _env(GATEWAY_SERVER_PORT="eighty")
    proc = await asyncio.create_subprocess_exec(
        str(ENTRYPOINT),
        "serve",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "server.port" in err.decode()
    assert b"Gateway:" not in out and b"embedded" not in err


async def test_with_supabase_url_the_container_serves_that_project_and_stops_on_sigterm(
    embedded: EmbeddedStack,
) -> None:
    port = free_port()
    env = _hosted(embedded, port)
    assert (await healthcheck(env))[0] == 1  # nothing listens yet: unhealthy
    async with container(env) as proc:
        base = (await asyncio.wait_for(wait_for_line(proc, r"Gateway:\s+(\S+)"), STARTUP))[1]
        assert base == f"http://127.0.0.1:{port}"
        project = await wait_for_line(proc, r"Supabase URL:\s+(\S+)")
        assert project[1] == embedded.url  # no embedded stack of its own
        assert "ready (200)" in await healthy(env)
        assert await docker_stop(proc) == 0
    code, out = await healthcheck(env)
    assert code == 1 and "no answer" in out


async def test_without_supabase_url_the_container_runs_the_embedded_demo(tmp_path: Path) -> None:
    api_port = free_port()
    env = _env(
        GATEWAY_SERVER_PORT=str(free_port()),
        GATEWAY_EMBEDDED_API_PORT=str(api_port),
        GATEWAY_EMBEDDED_DB_PORT=str(free_port()),
        GATEWAY_EMBEDDED_DATA_DIR=str(tmp_path / "data"),
    )
    async with container(env) as proc:
        project = await asyncio.wait_for(wait_for_line(proc, r"Supabase URL:\s+(\S+)"), STARTUP)
        assert project[1] == f"http://127.0.0.1:{api_port}"
        await healthy(env)
        assert await docker_stop(proc) == 0
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
