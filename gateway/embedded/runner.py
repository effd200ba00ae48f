"""`python -m gateway embedded`: PostgreSQL, bootstrap, migrations and the API, in the foreground.

PostgreSQL runs under a supervisor that restarts it if it dies (supervisor.py).

Prints what `supabase status` prints, then serves until SIGINT/SIGTERM and stops
everything it started, PostgreSQL last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from gateway.config import LISTEN_BACKLOG, Config
from gateway.embedded.appkeys import EmbeddedContext
from gateway.embedded.bootstrap import apply_bootstrap
from gateway.embedded.db import create_pool
from gateway.embedded.keys import KeyRing
from gateway.embedded.postgres import PostgresServer
from gateway.embedded.server import create_embedded_app
from gateway.embedded.supervisor import PostgresSupervisor
from gateway.migrate import migrate
from gateway.signals import wait_for_stop_signal

# The launcher (gateway/cli/screen.py) reads the block between these two lines.
STATUS_START = "Embedded Supabase-compatible stack is running."
STATUS_END = "Press Ctrl-C to stop."


@dataclass(frozen=True)
class Status:
    api_url: str
    db_url: str
    config: Config

    def fields(self) -> list[tuple[str, str]]:
        emb = self.config.embedded
        return [
            ("API URL", self.api_url),
            ("REST URL", f"{self.api_url}/rest/v1"),
            ("Auth URL", f"{self.api_url}/auth/v1"),
            ("Realtime URL", f"{self.api_url.replace('http', 'ws', 1)}/realtime/v1/websocket"),
            ("DB URL", self.db_url),
            ("JWT secret", emb.jwt_secret),
            ("anon key", emb.anon_key),
            ("service_role key", emb.service_key),
            ("Publishable key", emb.publishable_key),
            ("Secret key", emb.secret_key),
        ]

    def lines(self) -> list[str]:
        """`label: value`, labels right-aligned on the colons, as `supabase status` prints."""
        fields = self.fields()
        width = max(len(label) for label, _ in fields)
        return [f"{label:>{width}}: {value}" for label, value in fields]


def _prepare_data_dir(path: str) -> Path:
    data_dir = Path(path).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


@contextlib.asynccontextmanager
async def embedded_stack(config: Config) -> AsyncIterator[Status]:
    """Start the database (unless a URL is configured), prepare it, serve the API."""
    emb = config.embedded
    data_dir = await asyncio.to_thread(_prepare_data_dir, emb.data_dir)
    supervisor: PostgresSupervisor | None = None
    if emb.database_url:
        database_url = emb.database_url
    else:
        server = PostgresServer(data_dir / "pgdata", emb.db_port, host=emb.host)
        # Restarts it if it dies.
        supervisor = PostgresSupervisor(server, first_delay=emb.postgres_restart_delay_seconds)
        await supervisor.start()
        database_url = server.url()
    try:
        await apply_bootstrap(database_url)
        await migrate(database_url)
        pool = await create_pool(database_url)
        try:
            context = EmbeddedContext(emb, KeyRing(emb, data_dir), pool, database_url, data_dir)
            # A client that hangs up cancels its handler, and so its query (asyncpg sends
            # PostgreSQL a cancel request): a hostile caller cannot leave queries running.
            runner = web.AppRunner(
                create_embedded_app(context), access_log=None, handler_cancellation=True
            )
            await runner.setup()
            try:
                site = web.TCPSite(runner, emb.host, emb.api_port, backlog=LISTEN_BACKLOG)
                await site.start()
                port = runner.addresses[0][1]
                gc.freeze()  # startup objects live forever: keep them out of full collections
                yield Status(f"http://{emb.host}:{port}", database_url, config)
            finally:
                await runner.cleanup()
        finally:
            await pool.close()
    finally:
        if supervisor is not None:
            await supervisor.stop()


async def run_embedded(config: Config, out: TextIO = sys.stdout) -> None:
    async with embedded_stack(config) as status:
        print(STATUS_START, file=out)
        for line in status.lines():
            print(line, file=out)
        print(STATUS_END, file=out, flush=True)
        await wait_for_stop_signal()
