"""The first screen of `python -m gateway` on the embedded default: the embedded stack's
whole status block (every URL and key, as `supabase status` prints them), aligned on the
colons, printed once, then the gateway's own lines; and `serve --host/--port`.

Before: the launcher read the child's block up to "service_role key" and forwarded the
rest to stderr, so a user saw only the publishable and secret keys."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp

from ops.bench.processes import free_port
from tests.process_helpers import running, spawn, stop

STARTUP = 120.0
STATUS_LABELS = [
    "API URL",
    "REST URL",
    "Auth URL",
    "Realtime URL",
    "DB URL",
    "JWT secret",
    "anon key",
    "service_role key",
    "Publishable key",
    "Secret key",
]


def embedded_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_EMBEDDED_API_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_EMBEDDED_DATA_DIR": str(tmp_path / "data"),
    }


async def lines_until(proc: asyncio.subprocess.Process, last: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith(last):
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP)
        assert line, f"the process ended before printing {last!r}: {lines}"
        lines.append(line.decode().rstrip("\n"))
    return lines


def colon_columns(lines: list[str]) -> set[int]:
    return {line.index(": ") for line in lines}


async def test_the_first_screen_shows_the_whole_status_block_once_aligned(
    tmp_path: Path,
) -> None:
    port = free_port()
    # --host/--port win over the configured 127.0.0.1:8001 (127.0.0.2: another loopback).
    args = ("serve", "--host", "127.0.0.2", "--port", str(port))
    async with running(*args, env=embedded_env(tmp_path)) as gateway:
        screen = await lines_until(gateway, "Tokens for trying it")
        block = [line for line in screen[:-1] if re.match(r"^\s*[\w ]+: ", line)]
        labels = [line.split(":")[0].strip() for line in block]
        assert labels == [*STATUS_LABELS, "Gateway", "API docs", "Supabase URL", "Anon key"]
        assert len(colon_columns(block)) == 1  # one column for every colon
        values = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in block}
        assert values["anon key"].startswith("eyJ") and values["Secret key"].startswith("sb_")
        assert values["Gateway"].startswith(f"http://127.0.0.2:{port} ")
        async with aiohttp.ClientSession() as http, http.get(values["API URL"] + "/health") as r:
            assert r.status == 200
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.2:{port}/healthz") as resp:
                assert resp.status == 200
        # Printed once: nothing of the block comes again (the old launcher forwarded the
        # block's last lines a second time, to stderr, and swallowed the rest).
        assert gateway.stdout is not None
        again = asyncio.create_task(gateway.stdout.readline())
        done, _ = await asyncio.wait({again}, timeout=0.5)
        assert not done
        again.cancel()
        assert await stop(gateway) == 0


async def test_the_embedded_command_aligns_its_labels(tmp_path: Path) -> None:
    env = {**embedded_env(tmp_path), "GATEWAY_EMBEDDED_API_PORT": "0"}
    async with running("embedded", env=env) as stack:
        screen = await lines_until(stack, "Press Ctrl-C")
        block = screen[1:-1]
        assert [line.split(":")[0].strip() for line in block] == STATUS_LABELS
        assert len(colon_columns(block)) == 1


async def test_serve_refuses_a_port_out_of_range() -> None:
    proc = await spawn("serve", "--port", "70000", env=dict(os.environ))
    assert await asyncio.wait_for(proc.wait(), 60) == 2
    assert proc.stdout is not None
    assert (await proc.stdout.read()) == b""
