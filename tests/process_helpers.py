"""Running `python -m gateway …` as a user would: child processes, their printed lines,
and a clean Ctrl-C (killed only if it does not stop in time)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def spawn(
    *args: str, env: Mapping[str, str], stderr: Any = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """`python -m gateway <args>` from the project root, stdout piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )


async def wait_for_line(proc: asyncio.subprocess.Process, pattern: str) -> re.Match[str]:
    """The first printed line matching `pattern` (lines before it are skipped)."""
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"the process ended before printing {pattern!r}")
        if match := re.search(pattern, line):
            return match


async def read_status(proc: asyncio.subprocess.Process, keys: tuple[str, ...]) -> dict[str, str]:
    """`key: value` lines as `python -m gateway embedded` prints them, until all keys came."""
    status: dict[str, str] = {}
    while not all(key in status for key in keys):
        match = await wait_for_line(proc, r"^\s*([^:]+):\s(.+)$")
        status[match[1].strip()] = match[2].strip()
    return status


async def stop(proc: asyncio.subprocess.Process, timeout: float = 60) -> int:
    """Ctrl-C, then wait; a process that does not stop in time is killed."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


@asynccontextmanager
async def running(*args: str, env: Mapping[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await spawn(*args, env=env)
    try:
        yield proc
    finally:
        await stop(proc)


async def outcome(*args: str, env: Mapping[str, str], timeout: float = 60) -> tuple[int, str, str]:
    """Run a command to completion: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run(*args: str, env: Mapping[str, str], timeout: float = 60) -> str:
    """Run a command to completion; its stdout (it must succeed)."""
    code, out, err = await outcome(*args, env=env, timeout=timeout)
    assert code == 0, err
    return out.strip()
