"""Postgres Changes: row changes of published tables to the channels subscribed to them.

Lifecycle: `start()` registers a hub observer and the dispatcher task; `stop()` ends them and
every channel's queue. Joins: a channel with bindings is parsed and registered synchronously
when it joins (right after its join reply), then validated against the database on its own
task, which pushes `system` "Subscribed to PostgreSQL" or Supabase's error. Changes that
could concern a still-validating channel wait in that channel's queue for the validation,
so a row committed after the client saw its join reply is never missed, and arrives after
the system message. Token refreshes re-subscribe with the new claims (Supabase upserts the
claims the same way). A table added to the publication later re-subscribes the channels
whose wildcard bindings cover it, when its first change arrives (pgc_registry.stale); they
get "Subscribed to PostgreSQL" again, as Supabase's re-subscription pushes it.

Concurrency: `submit()` (called by the feed in commit order) only appends to a queue; one
task routes it in order, in batches, to each concerned channel's own queue (pgc_dispatch),
whose task does the RLS and filter checks (pgc_worker): a slow channel delays only itself.
The ordered queue is bounded by `ready()`, which the feed awaits between transactions: when
routing falls `max_queued` changes behind, the feed stops reading the WAL (PostgreSQL keeps
the rest in the slot) instead of dropping changes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
from datetime import datetime

import asyncpg

from gateway.embedded.cdc.pgc_deliver import Checks
from gateway.embedded.cdc.pgc_dispatch import route
from gateway.embedded.cdc.pgc_params import BindingError, BindingSpec, parse_binding
from gateway.embedded.cdc.pgc_registry import ChannelEntry, Registry
from gateway.embedded.cdc.pgc_subscribe import SubscribeError, subscribe
from gateway.embedded.cdc.pgc_worker import Workers
from gateway.embedded.metrics import EmbeddedMetrics
from gateway.embedded.realtime.channel import Channel
from gateway.embedded.realtime.hub import Hub
from gateway.embedded.wal.changes import RowChange, Transaction

log = logging.getLogger(__name__)

EXTENSION = "postgres_changes"
SUBSCRIBED = "Subscribed to PostgreSQL"
MAX_QUEUED = 10_000
BATCH = 256  # changes routed with one catalog snapshot
RETRY_SECONDS = (5.0, 10.0)  # Supabase retries a subscription the database failed


class PostgresChanges:
    """The Postgres Changes extension: a hub observer, the subscriptions and the dispatcher."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: Hub,
        metrics: EmbeddedMetrics,
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.pool = pool
        self.hub = hub
        self.max_queued = max_queued
        self.registry = Registry()
        settings = hub.settings
        checks = Checks.create(pool, settings.postgres_changes_filter_timeout_ms)
        self.workers = Workers(checks, settings.postgres_changes_queue_max, metrics)
        self._queue: collections.deque[tuple[RowChange, Transaction]] = collections.deque()
        self._routing: datetime | None = None  # commit time of the batch being routed
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._consumer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching channels with postgres_changes bindings."""
        self.hub.add_observer(self)
        self._consumer = asyncio.create_task(self._consume(), name="postgres-changes")

    def oldest_pending(self) -> datetime | None:
        """Commit time of the oldest change not yet handed to its channels' queues."""
        if self._routing is not None:
            return self._routing
        return self._queue[0][1].commit_time if self._queue else None

    def submit(self, change: RowChange, transaction: Transaction) -> None:
        """A committed row change of a published table and its transaction, in commit order:
        queued, never awaited."""
        for entry in self.registry.stale(change.schema, change.table):
            # A table published since this channel subscribed, which its wildcard covers.
            self.registry.mark_pending(entry)
            self._subscribe(entry)
        if not self.registry.wants(change.schema, change.table):
            return
        self._queue.append((change, transaction))
        self._wake.set()
        if len(self._queue) >= self.max_queued and self._room.is_set():
            log.warning("postgres_changes is %d changes behind; pausing the WAL", len(self._queue))
            self._room.clear()

    async def ready(self) -> None:
        """Return once the queue has room: the feed's backpressure point."""
        await self._room.wait()

    async def stop(self) -> None:
        """Stop the dispatcher and every subscription task."""
        with contextlib.suppress(ValueError):
            self.hub.remove_observer(self)
        tasks = [entry.task for entry in self.registry.entries() if entry.task is not None]
        if self._consumer is not None:
            tasks.append(self._consumer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.workers.stop()

    # Hub observer ----------------------------------------------------------------------

    def channel_joined(self, channel: Channel) -> None:
        bindings: list[tuple[int, BindingSpec]] = []
        try:
            for binding in channel.postgres_changes:
                bindings.append((binding.id, parse_binding(binding.params)))
        except BindingError as err:
            log.info("postgres_changes params refused on %s", channel.topic)
            channel.push_system(EXTENSION, "error", err.message)
            return
        entry = ChannelEntry(channel, bindings, channel.claims)
        self.registry.add(entry)
        self._subscribe(entry)

    def channel_left(self, channel: Channel) -> None:
        entry = self.registry.remove(channel)
        if entry is None:
            return
        if entry.task is not None:
            entry.task.cancel()
        self.workers.cancel(entry)

    def channel_token_changed(self, channel: Channel) -> None:
        entry = self.registry.entry(channel)
        if entry is not None:
            self._subscribe(entry)

    # Subscribing -----------------------------------------------------------------------

    def _subscribe(self, entry: ChannelEntry) -> None:
        if entry.task is not None:
            entry.task.cancel()  # a newer token wins
        entry.task = asyncio.get_running_loop().create_task(self._subscribe_task(entry))

    async def _subscribe_task(self, entry: ChannelEntry) -> None:
        channel = entry.channel
        claims = channel.claims
        while True:
            try:
                subscriptions = await subscribe(self.pool, claims.role, entry.bindings)
            except SubscribeError as err:
                log.info("postgres_changes subscription refused on %s", channel.topic)
                channel.push_system(EXTENSION, "error", err.message)
                self.registry.settle(entry)
                if not err.retry:
                    return
                await asyncio.sleep(random.uniform(*RETRY_SECONDS))
                continue
            except Exception:
                log.exception("postgres_changes subscription failed on %s", channel.topic)
                channel.push_system(EXTENSION, "error", "Unknown Error on Channel")
                self.registry.settle(entry)
                return
            self.registry.activate(entry, subscriptions, claims)
            channel.push_system(EXTENSION, "ok", SUBSCRIBED)
            self.registry.settle(entry)
            return

    # Dispatch --------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            self._routing = batch[0][1].commit_time
            if len(self._queue) < self.max_queued:
                self._room.set()
            try:
                await route(self.pool, self.registry, batch, self.workers.offer)
            except Exception:  # the dispatcher must outlive any one bad batch
                log.exception("postgres_changes failed on a batch of %d changes", len(batch))
            finally:
                self._routing = None
