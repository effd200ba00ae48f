"""Each channel's queue of changes awaiting its RLS and filter checks, and the task draining it.

Concurrency: the ordered dispatcher only appends to a channel's queue, never waits on it. A
drain task is spawned when a queue gets its first change and ends once the queue is empty
(idle channels cost no task); it first waits for the channel's validation to settle, then
checks and pushes its changes in batches, in commit order. So one slow or hostile channel
delays only itself. Its limits (embedded: Supabase has neither) shut it down alone:
- more than `queue_max` changes behind: Supabase's "Too many messages per second";
- filters over their time budget on a batch: a system error naming the limit.
Tasks are owned here and cancelled on `stop()` or when their channel leaves.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway.embedded.cdc.pgc_deliver import Checks, deliver
from gateway.embedded.cdc.pgc_job import ChangeJob
from gateway.embedded.cdc.pgc_registry import ChannelEntry
from gateway.embedded.cdc.pgc_sql_checks import FilterTimeout
from gateway.embedded.metrics import EmbeddedMetrics

log = logging.getLogger(__name__)

BATCH = 64  # changes of one channel checked in one RLS transaction and one filter statement
TOO_MANY = "Too many messages per second"


def filter_too_slow(budget_ms: int) -> str:
    return f"Postgres Changes filters took longer than {budget_ms} ms on a change"


class Workers:
    """The per-channel queues' drain tasks."""

    def __init__(self, checks: Checks, queue_max: int, metrics: EmbeddedMetrics) -> None:
        self.checks = checks
        self.queue_max = queue_max
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(self, entry: ChannelEntry, job: ChangeJob) -> None:
        """Queue a change for the channel; a channel too far behind is shut down instead."""
        if entry.channel.closed:
            return
        if len(entry.jobs) >= self.queue_max:
            log.warning(
                "PostgresChangesQueueFull: %s is %d changes behind; shutting it down",
                entry.channel.topic,
                len(entry.jobs),
            )
            self.metrics.channel_overflowed()
            entry.channel.shutdown(TOO_MANY)  # its channel_left cancels the queue
            return
        entry.jobs.append(job)
        if entry.worker is None:
            task = asyncio.get_running_loop().create_task(self._drain(entry))
            entry.worker = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def cancel(self, entry: ChannelEntry) -> None:
        entry.jobs.clear()
        if entry.worker is not None:
            entry.worker.cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, entry: ChannelEntry) -> None:
        try:
            while entry.jobs:
                # A joining (or re-validating) channel's changes wait for its validation.
                await entry.settled.wait()
                batch = [entry.jobs.popleft() for _ in range(min(BATCH, len(entry.jobs)))]
                try:
                    await deliver(self.checks, entry, batch)
                except FilterTimeout:
                    self._too_slow(entry)
                    return
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
                    # Not the error text: PostgreSQL's may quote row values.
                    code = getattr(err, "sqlstate", None) or type(err).__name__
                    log.error(
                        "postgres_changes lost %d changes of %s: %s",
                        len(batch),
                        entry.channel.topic,
                        code,
                    )
                except Exception:  # the queue must outlive any one bad batch
                    log.exception("postgres_changes failed on %s", entry.channel.topic)
        finally:
            entry.worker = None

    def _too_slow(self, entry: ChannelEntry) -> None:
        budget = self.checks.filter_budget_ms
        log.warning(
            "PostgresChangesFilterTimeout: %s's filters took over %d ms; shutting it down",
            entry.channel.topic,
            budget,
        )
        self.metrics.filter_timed_out()
        entry.channel.shutdown(filter_too_slow(budget))
