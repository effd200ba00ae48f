"""The server processes a run starts — embedded stack, gateway, bare WebSocket server — and
how they are stopped: each by its own pid, SIGINT first, SIGKILL after a grace period, and
PostgreSQL (the embedded stack's child) checked last, also on Ctrl-C or an error.

Each runs in its own session so a terminal Ctrl-C reaches only us; we then stop them in
reverse order. Their output goes to log files (never a pipe that could fill and block).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from gateway.signals import child_env
from ops.bench.probes import METRICS_TOKEN

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 120.0
STOP_GRACE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Started:
    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    # pid → start time of processes seen below it (PostgreSQL); the start time guards
    # against killing an unrelated process that reused a pid.
    descendants: dict[int, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def remember_descendants(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.descendants[child.pid] = child.create_time()


@dataclass(frozen=True)
class Stack:
    url: str
    anon_key: str
    service_key: str
    jwt_secret: str
    database_url: str


class Processes:
    """Owns every process it started; `stop_all` stops them, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Started] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Started:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out, err = self.log_dir / f"{name}.out.log", self.log_dir / f"{name}.err.log"
        with out.open("wb") as out_f, err.open("wb") as err_f:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=child_env(env),
                stdout=out_f,
                stderr=err_f,
                start_new_session=True,
            )
        started = Started(name, proc, out, err)
        self.started.append(started)
        return started

    async def wait_for_line(self, started: Started, pattern: str) -> re.Match[str]:
        """Poll the process's stdout log until a line matches (or it exits, or time runs out)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            match = regex.search(started.stdout.read_text(errors="replace"))
            if match:
                return match
            if started.proc.poll() is not None:
                raise RuntimeError(f"{started.name} exited early; see {started.stderr}")
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{started.name} not ready in {READY_TIMEOUT_SECONDS:.0f} s")

    def stop(self, started: Started, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop it by its pid with `sig` (both servers stop gracefully on SIGINT and SIGTERM),
        killing it after the grace period; then any child of it still running."""
        started.remember_descendants()
        _stop(started.proc, sig)
        for pid, created in started.descendants.items():
            _kill_leftover(pid, created, started.name)
        if started in self.started:
            self.started.remove(started)

    def stop_all(self) -> None:
        for started in reversed(list(self.started)):
            self.stop(started)


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning(
            "pid %s ignored %s for %.0f s; killing it", proc.pid, sig.name, STOP_GRACE_SECONDS
        )
        proc.kill()
        proc.wait()


def _kill_leftover(pid: int, created: float, parent: str) -> None:
    """A child of ours (PostgreSQL) still alive after its parent stopped: wait, then kill."""
    try:
        proc = psutil.Process(pid)
        if proc.create_time() != created:
            return  # the pid was reused by someone else's process
        proc.wait(STOP_GRACE_SECONDS)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        log.warning("pid %s (started under %s) still running; killing it", pid, parent)
        with contextlib.suppress(psutil.Error):
            proc.kill()


BENCH_QUOTA = 1_000_000
_QUOTAS = (
    "CONCURRENT_USERS",
    "JOINS_PER_SECOND",
    "EVENTS_PER_SECOND",
    "PRESENCE_EVENTS_PER_SECOND",
)


_GATEWAY_LIMITS = (
    "SEND_RATE",
    "READ_RATE",
    "WS_SOCKETS_PER_USER",
    "WS_SOCKETS_PER_ADDRESS",
    "WS_SOCKETS_MAX",
    "WS_HANDSHAKE_RATE",
)


def _python_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "SUPABASE_"))}
    env.pop("JWT_SECRET", None)
    env.update(extra)
    return env


async def start_stack(procs: Processes, data_dir: Path) -> tuple[Started, Stack]:
    """`python -m gateway embedded` on free loopback ports with a fresh data directory."""
    env = _python_env(
        {
            "GATEWAY_EMBEDDED_HOST": "127.0.0.1",
            "GATEWAY_EMBEDDED_API_PORT": str(free_port()),
            "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
            "GATEWAY_EMBEDDED_DATA_DIR": str(data_dir),
            # The bench measures our servers, not a plan: lift the embedded stack's
            # Realtime quotas (Supabase Free's by default: 100 messages/s) out of the way.
            **{f"GATEWAY_EMBEDDED_REALTIME_MAX_{name}": str(BENCH_QUOTA) for name in _QUOTAS},
        }
    )
    started = procs.start("embedded", [sys.executable, "-m", "gateway", "embedded"], env)
    await procs.wait_for_line(started, r"service_role key: ")
    status = dict(
        (m[1].strip(), m[2].strip())
        for m in re.finditer(r"^\s*([^:\n]+):\s(.+)$", started.stdout.read_text(), re.MULTILINE)
    )
    started.remember_descendants()
    stack = Stack(
        url=status["API URL"],
        anon_key=status["anon key"],
        service_key=status["service_role key"],
        jwt_secret=status["JWT secret"],
        database_url=status["DB URL"],
    )
    return started, stack


async def start_gateway(
    procs: Processes,
    stack: Stack,
    joins_per_second: float,
    *,
    port: int | None = None,
    name: str = "gateway",
) -> tuple[Started, str]:
    """`python -m gateway` pointed at the stack (so it starts no embedded child of its own),
    on `port` (a restart reuses the old one) or a free one; logs under `name`."""
    env = _python_env(
        {
            "GATEWAY_LIMITS_UPSTREAM_JOINS_PER_SECOND": str(joins_per_second),
            # Every bench client comes from one address and senders go flat out: lift the
            # gateway's own abuse limits (README "Limits"), as the stack's quotas above.
            **{f"GATEWAY_LIMITS_{name}": "0" for name in _GATEWAY_LIMITS},
            "GATEWAY_SERVER_METRICS_TOKEN": METRICS_TOKEN,
            "GATEWAY_SERVER_HOST": "127.0.0.1",
            "GATEWAY_SERVER_PORT": str(port or free_port()),
            "SUPABASE_URL": stack.url,
            "SUPABASE_KEY": stack.anon_key,
            "SUPABASE_SERVICE_KEY": stack.service_key,
            "JWT_SECRET": stack.jwt_secret,
        }
    )
    started = procs.start(name, [sys.executable, "-m", "gateway"], env)
    match = await procs.wait_for_line(started, r"Gateway:\s+(\S+)")
    return started, match[1]


async def start_bare_server(procs: Processes) -> tuple[Started, str]:
    """The transport-only ceiling server (ops/bench/bare_server.py)."""
    return await start_listener(procs, "bare_ws", "ops.bench.bare_server")


async def start_listener(procs: Processes, name: str, module: str) -> tuple[Started, str]:
    """`python -m <module> --port <free port>`, once it printed `listening on <where>`."""
    argv = [sys.executable, "-m", module, "--port", str(free_port())]
    started = procs.start(name, argv, _python_env({}))
    match = await procs.wait_for_line(started, r"listening on (\S+)")
    return started, match[1]
