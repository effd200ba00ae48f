"""`python -m gateway` / `serve`: run the gateway, starting the embedded stack first when no
Supabase project is configured.

The embedded stack runs as a child process (`python -m gateway embedded`), exactly as a
user would start it; the gateway reaches it only over HTTP and WebSocket, as it reaches
hosted Supabase. Ctrl-C stops the gateway (sockets get 1001), then the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from gateway.api.listen import HeaderTimeoutSite
from gateway.app import create_app
from gateway.cli.screen import STATUS_END, STATUS_START, aligned, parse_line
from gateway.config import Config
from gateway.signals import child_env, wait_for_stop_signal

READY_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Project:
    url: str
    anon_key: str
    service_key: str
    jwt_secret: str
    # The embedded stack's status block, to print on the first screen (empty when hosted).
    status_lines: list[str] = field(default_factory=list)


def target_config(config: Config, project: Project) -> Config:
    """The configuration the gateway runs with once it knows its Supabase project."""
    return config.model_copy(
        update={
            "supabase": config.supabase.model_copy(
                update={
                    "url": project.url,
                    "anon_key": project.anon_key,
                    "service_key": project.service_key,
                }
            ),
            "auth": config.auth.model_copy(update={"jwt_secret": project.jwt_secret}),
        }
    )


@dataclass(frozen=True)
class StatusBlock:
    """What the embedded child printed before it was ready: its lines, and them parsed."""

    lines: list[str]
    fields: dict[str, str]


async def _read_status(proc: asyncio.subprocess.Process) -> StatusBlock:
    """The child's status block, read whole (up to its closing line), so the launcher can
    print it once, with nothing of it left for the forwarder to pass on."""
    assert proc.stdout is not None
    block = StatusBlock([], {})
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the embedded stack exited during start; see its output above")
        text = line.decode(errors="replace").rstrip("\n")
        if text == STATUS_END:
            return block
        if (parsed := parse_line(text)) is not None:
            block.lines.append(text)
            block.fields[parsed[0]] = parsed[1]


async def _forward(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and (line := await stream.readline()):
        sys.stderr.write(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def embedded_child(config_path: str) -> AsyncIterator[Project]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        config_path,
        "embedded",
        stdout=asyncio.subprocess.PIPE,
        env=child_env(os.environ),
        start_new_session=True,
    )
    forward: asyncio.Task[None] | None = None
    try:
        block = await asyncio.wait_for(_read_status(proc), READY_TIMEOUT_SECONDS)
        forward = asyncio.create_task(_forward(proc.stdout))
        status = block.fields
        yield Project(
            status["API URL"],
            status["anon key"],
            status["service_role key"],
            status["JWT secret"],
            block.lines,
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if forward is not None:
            forward.cancel()


def first_screen(config: Config, port: int, status_lines: list[str]) -> list[str]:
    """What `python -m gateway` prints once it serves: the embedded stack's whole status
    block (when it started one), then the gateway's own lines, aligned with it."""
    base = f"http://{config.server.host}:{port}"
    head = [STATUS_START, *status_lines] if status_lines else []
    return [
        *head,
        *aligned(
            [
                ("Gateway", f"{base}  (WebSocket: ws://{config.server.host}:{port}/ws)"),
                ("API docs", f"{base}/docs"),
                ("Supabase URL", config.supabase.url),
                ("Anon key", config.supabase.anon_key),
            ],
            status_lines,
        ),
        "Tokens for trying it: python -m gateway token you@example.com",
    ]


async def serve(config: Config, config_path: str) -> int:
    status_lines: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        if config.uses_embedded:
            project = await stack.enter_async_context(embedded_child(config_path))
            config = target_config(config, project)
            status_lines = project.status_lines
        runner = web.AppRunner(
            create_app(config),
            shutdown_timeout=config.server.shutdown_timeout_seconds,
            access_log=None,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        server = config.server
        site = HeaderTimeoutSite(
            runner,
            server.host,
            server.port,
            header_timeout=server.header_timeout_seconds,
            backlog=server.listen_backlog,
        )
        await site.start()
        port = runner.addresses[0][1]
        print("\n".join(first_screen(config, port, status_lines)), flush=True)
        await wait_for_stop_signal()
    return 0
