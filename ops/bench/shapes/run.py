"""The shape comparison, start to end: start the embedded stack (fresh data directory,
free loopback ports), make users and their direct chats, start the subscriber process,
then for each shape join it and measure each mode; write the JSON and Markdown results
and stop every process it started, by pid (on Ctrl-C and SIGTERM too).

No gateway runs: the gateway's routing is the same whichever shape feeds it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from ops.bench import report, resources
from ops.bench.child import Child
from ops.bench.driver import Driver
from ops.bench.processes import Processes, start_stack
from ops.bench.run import EXIT_INCORRECT, EXIT_OK, execute, raise_nofile
from ops.bench.shapes import db
from ops.bench.shapes.measure import measure
from ops.bench.shapes.options import ShapeOptions, parse_shape_options
from ops.bench.shapes.report import conclude, markdown
from ops.bench.shapes.subscriber import subscriber_main
from ops.bench.users import Project, create_chats, create_users

log = logging.getLogger("ops.bench.shapes")
SAMPLE_INTERVAL = 0.5


class ShapesRun:
    def __init__(self, options: ShapeOptions, command: str) -> None:
        self.options = options
        self.command = command
        self.run_id = secrets.token_hex(3)
        self.log_dir = options.out.with_suffix(".logs")
        self.procs = Processes(self.log_dir)
        self.data_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-shapes-"))
        self.subscriber: Child | None = None

    async def run(self) -> dict[str, Any]:
        o = self.options
        result: dict[str, Any] = {
            "schema": 1,
            "command": self.command,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": await asyncio.to_thread(resources.machine),
            "options": o.public(),
        }
        log.info("starting the embedded stack (logs in %s)", self.log_dir)
        embedded, stack = await start_stack(self.procs, self.data_dir / "data")
        project = Project(stack.url, stack.anon_key, stack.service_key, stack.jwt_secret)
        log.info("creating %d users and their chats", o.users)
        users = await create_users(project, o.users, self.run_id)
        chats = await create_chats(project, users, 2)
        self.subscriber = subscriber = Child(subscriber_main, (), "bench-subscriber")
        sampler = resources.Sampler(
            {
                "embedded": resources.one(embedded.pid),
                "postgres": resources.children_of(embedded.pid),
                "subscriber": resources.one(subscriber.pid),
                "driver": resources.one(os.getpid()),
            },
            interval=SAMPLE_INTERVAL,
        )
        driver = Driver(stack.database_url, users, chats, payload=o.payload, run_id=self.run_id)
        admin = await asyncpg.connect(stack.database_url)
        sampling = asyncio.create_task(sampler.run())
        try:
            await driver.connect(o.db_connections)
            topics = await db.delivery_topics(admin)
            shapes: dict[str, Any] = {}
            for shape in o.shapes:
                if shape == "changes-lean":
                    result["lean_trigger"] = await db.drop_chats_broadcast(admin)
                join = {
                    "cmd": "join",
                    "url": stack.url,
                    "key": stack.service_key,
                    "shape": "broadcast" if shape == "broadcast" else "changes",
                    "topics": topics,
                }
                shapes[shape] = {"subscription": await subscriber.call(join)}
                for mode in o.modes:
                    log.info("%s: %s", shape, mode if mode == "max" else f"{o.rate:g} msg/s")
                    shapes[shape][mode] = await measure(mode, driver, subscriber, admin, sampler, o)
                await subscriber.call({"cmd": "leave"})
            result["shapes"] = shapes
            result["topics"] = topics
            result["processes"] = resources.pids_seen(sampler)
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
            await driver.close()
            await admin.close()
        conclude(result)
        return result

    def cleanup(self) -> None:
        if self.subscriber is not None:
            self.subscriber.stop()
            self.subscriber = None
        self.procs.stop_all()
        if not self.options.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_shape_options(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    raise_nofile(512)
    result = execute(ShapesRun(options, " ".join(["python -m ops.bench.shapes", *args])))
    if isinstance(result, int):
        return result
    table = markdown(result)
    report.write(result, table, options.out, None)
    print(table)
    print(f"result: {options.out}", file=sys.stderr)
    return EXIT_OK if result["verdict"]["correct"] else EXIT_INCORRECT
