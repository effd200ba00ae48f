"""One benchmark run, phase by phase: start (or find) the servers, make users and chats,
ramp the sockets (measuring idle RSS per socket), run the open-loop load, measure the
two ceilings, write the JSON and Markdown results, and stop everything it started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from gateway import loop
from ops.bench import ceilings, hop, phases, probes, report, resources, restart
from ops.bench.child import ChildFailed
from ops.bench.fleet import Fleet, shard
from ops.bench.options import RESULTS_MD, Options, parse_options, redacted
from ops.bench.processes import (
    Processes,
    Stack,
    Started,
    start_bare_server,
    start_gateway,
    start_stack,
)
from ops.bench.users import Project, create_chats, create_users

log = logging.getLogger("ops.bench")
EXIT_OK, EXIT_FAILED, EXIT_INCORRECT, EXIT_INTERRUPTED = 0, 1, 3, 130


def raise_nofile(needed: int) -> int:
    """Sockets are files: lift our RLIMIT_NOFILE (children inherit). The soft limit goes to
    the hard one; a hard limit below `needed` is raised too where we may (root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError):
            raise SystemExit(
                f"RLIMIT_NOFILE hard limit {hard} < {needed} needed for these sockets"
            ) from None
        soft, hard = needed, needed
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Run:
    def __init__(self, options: Options, command: str) -> None:
        self.options = options
        self.command = command
        self.run_id = secrets.token_hex(3)
        self.log_dir = options.out.with_suffix(".logs")
        self.procs = Processes(self.log_dir)
        self.fleet: Fleet | None = None
        self.stack: Stack | None = None  # the servers we started (None: measuring others')
        self.gateway: Started | None = None
        self.data_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
        self.result: dict[str, Any] = {}

    async def servers(self) -> tuple[Project, str, str | None, int | None, int | None]:
        """(project, gateway ws url, database url, gateway pid, embedded pid)."""
        target = self.options.target
        if target.gateway_url and target.supabase_url:
            project = Project(
                target.supabase_url, target.anon_key, target.service_key, target.jwt_secret
            )
            ws = target.gateway_url.replace("http", "ws", 1).rstrip("/")
            ws = ws if ws.endswith("/ws") else ws + "/ws"
            return project, ws, target.database_url, target.gateway_pid, target.embedded_pid
        log.info("starting the embedded stack and the gateway (logs in %s)", self.log_dir)
        embedded, stack = await start_stack(self.procs, self.data_dir / "data")
        gateway, url = await start_gateway(self.procs, stack, self.options.joins_per_second)
        self.stack, self.gateway = stack, gateway
        project = Project(stack.url, stack.anon_key, stack.service_key, stack.jwt_secret)
        ws = url.replace("http", "ws", 1) + "/ws"
        return project, ws, stack.database_url, gateway.pid, embedded.pid

    async def run(self) -> dict[str, Any]:
        o = self.options
        self.result = {
            "schema": 1,
            "command": self.command,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": await asyncio.to_thread(resources.machine),
            "options": o.public(),
        }
        project, ws_url, database_url, gateway_pid, embedded_pid = await self.servers()
        sampler = resources.Sampler(
            {
                "gateway": resources.one(gateway_pid),
                "embedded": resources.one(embedded_pid),
                "postgres": resources.children_of(embedded_pid),
                "coordinator": resources.one(os.getpid()),
            },
            interval=o.sample_interval,
        )
        sampling = asyncio.create_task(sampler.run())
        try:
            return await self._phases(project, ws_url, database_url, sampler)
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)

    async def _phases(
        self, project: Project, ws_url: str, database_url: str | None, sampler: resources.Sampler
    ) -> dict[str, Any]:
        o, result = self.options, self.result
        clock = time.monotonic()
        log.info("creating %d users and their chats", o.users)
        users = await create_users(project, o.users, self.run_id)
        made_users = time.monotonic()
        chats = await create_chats(project, users, o.group_size)
        result["setup"] = {
            "users_created_s": round(made_users - clock, 2),
            "chats_created_s": round(time.monotonic() - made_users, 2),
            "tokens": "signed here (admin API users)" if project.jwt_secret else "sign-up",
        }
        self.fleet = fleet = Fleet(shard(users, chats, o.workers, self.run_id, o.payload))
        for i, pid in enumerate(fleet.pids):
            sampler.groups[f"worker-{i}"] = resources.one(pid)
        log.info("connecting %d sockets over %d worker(s)", o.users, o.workers)
        result["connect"], result["idle"] = await phases.ramp(fleet, ws_url, o, sampler)
        upstream = result["connect"]["upstream"] = {
            "after_ramp": await probes.upstream(probes.http_base(ws_url))
        }
        log.info("load: %g msg/s for %g s warm-up + %g s measured", o.rate, o.warmup, o.duration)
        result["load"], result["resources"], result["generator"] = await phases.load(
            fleet, o, sampler
        )
        if o.restart:
            assert self.stack is not None and self.gateway is not None  # (options: our own)
            log.info("restart: stopping the gateway, every client reconnecting at once")
            result["restart"], self.gateway = await restart.restart(
                self.procs, self.gateway, self.stack, fleet, ws_url, o, sampler
            )
        upstream["at_end"] = await probes.upstream(probes.http_base(ws_url))
        await fleet.all({"cmd": "close"})
        if o.ceilings:
            log.info(
                "ceilings: process hop, database, WebSocket transport, %g s each", o.ceiling_seconds
            )
        result["ceilings"] = await self._ceilings(users, chats, database_url, sampler)
        result["processes"] = resources.pids_seen(sampler)
        report.conclude(result)
        return result

    async def _ceilings(
        self,
        users: list[Any],
        chats: list[Any],
        database_url: str | None,
        sampler: resources.Sampler,
    ) -> dict[str, Any]:
        o = self.options
        out: dict[str, Any] = {"database": None, "transport": None, "hop": None}
        if not o.ceilings:
            return out
        out["hop"] = await hop.round_trip(self.procs, min(o.ceiling_seconds, 3.0))
        if database_url:
            out["database"] = await ceilings.database(
                database_url,
                users,
                chats,
                payload=o.payload,
                seconds=o.ceiling_seconds,
                connections=o.db_connections,
                pipeline=o.db_pipeline,
                sampler=sampler,
            )
        bare, url = await start_bare_server(self.procs)
        sampler.groups["bare_ws"] = resources.one(bare.pid)
        try:
            assert self.fleet is not None
            out["transport"] = await ceilings.transport(
                self.fleet,
                url,
                seconds=o.ceiling_seconds,
                window=o.ws_window,
                concurrency=o.connect_concurrency,
                sampler=sampler,
            )
        finally:
            self.procs.stop(bare)
        return out

    def cleanup(self) -> None:
        """Stop everything we started; safe to call again (a second Ctrl-C may cut it short)."""
        if self.fleet is not None:
            self.fleet.stop()
        self.procs.stop_all()
        if not self.options.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Runnable(Protocol):
    """A run that owns processes: `cleanup` stops them (safe to call twice)."""

    log_dir: Path

    async def run(self) -> dict[str, Any]: ...
    def cleanup(self) -> None: ...


async def _run(run: Runnable) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await run.run()
    finally:
        run.cleanup()


def execute(run: Runnable) -> dict[str, Any] | int:
    """Run it to the end: its result, or the exit code of an interrupted or failed run.
    Every process it started is stopped either way (Ctrl-C and SIGTERM included)."""
    try:
        return loop.run(_run(run))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process started was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ChildFailed, RuntimeError, OSError, asyncpg.PostgresError) as err:
        print(f"benchmark failed: {err} (logs in {run.log_dir})", file=sys.stderr)
        return EXIT_FAILED
    finally:
        run.cleanup()  # again, in case an interrupt cut the first one short


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Per process: the gateway holds every client socket plus its pools; a worker its share.
    raise_nofile(options.users + 512)
    result = execute(Run(options, " ".join(["python -m ops.bench", *redacted(args)])))
    if isinstance(result, int):
        return result
    markdown = report.markdown(result)
    report.write(result, markdown, options.out, RESULTS_MD if options.write_results_md else None)
    print(markdown)
    print(f"result: {options.out}", file=sys.stderr)
    return EXIT_OK if result["verdict"]["correct"] else EXIT_INCORRECT
