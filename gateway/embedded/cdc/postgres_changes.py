"""Postgres Changes: row changes of published tables to the channels subscribed to them.

Lifecycle: `start()` registers a hub observer and the dispatcher task; `stop()` ends both.
Joins: a channel with bindings is parsed and registered synchronously when it joins (right
after its join reply), then validated against the database on its own task, which pushes
`system` "Subscribed to PostgreSQL" or Supabase's error. Dispatch of a change that could
concern a still-validating channel waits for that validation, so a row committed after
the client saw its join reply is never missed, and arrives after the system message.
Token refreshes re-subscribe with the new claims (Supabase upserts the claims the same way).

Concurrency: `submit()` (called by the feed in commit order) only appends to a queue; one
task dispatches in order, in batches. The queue is bounded by `ready()`, which the feed
awaits between transactions: when dispatch falls `max_queued` changes behind, the feed
stops reading the WAL (PostgreSQL keeps the rest in the slot) instead of dropping changes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
from datetime import datetime

import asyncpg

from gateway.embedded.cdc.pgc_dispatch import Dispatch
from gateway.embedded.cdc.pgc_params import BindingError, BindingSpec, parse_binding
from gateway.embedded.cdc.pgc_registry import ChannelEntry, Match, Registry
from gateway.embedded.cdc.pgc_subscribe import SubscribeError, subscribe
from gateway.embedded.realtime.channel import Channel
from gateway.embedded.realtime.hub import Hub
from gateway.embedded.wal.changes import RowChange

log = logging.getLogger(__name__)

EXTENSION = "postgres_changes"
SUBSCRIBED = "Subscribed to PostgreSQL"
MAX_QUEUED = 10_000
BATCH = 256  # changes that share one RLS transaction and one catalog snapshot
SETTLE_TIMEOUT = 15.0  # longest a change waits for a joining channel's validation
RETRY_SECONDS = (5.0, 10.0)  # Supabase retries a subscription the database failed


class PostgresChanges:
    """The Postgres Changes extension: a hub observer, the subscriptions and the dispatcher."""

    def __init__(self, pool: asyncpg.Pool, hub: Hub, *, max_queued: int = MAX_QUEUED) -> None:
        self.pool = pool
        self.hub = hub
        self.max_queued = max_queued
        self.registry = Registry()
        self._queue: collections.deque[tuple[RowChange, datetime]] = collections.deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._consumer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching channels with postgres_changes bindings."""
        self.hub.add_observer(self)
        self._consumer = asyncio.create_task(self._consume(), name="postgres-changes")

    def submit(self, change: RowChange, commit_time: datetime) -> None:
        """A committed row change of a published table, in commit order: queued, never awaited."""
        if not self.registry.wants(change.schema, change.table):
            return
        self._queue.append((change, commit_time))
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
        if entry is not None and entry.task is not None:
            entry.task.cancel()

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
            if len(self._queue) < self.max_queued:
                self._room.set()
            try:
                await self._dispatch(batch)
            except Exception:  # the dispatcher must outlive any one bad batch
                log.exception("postgres_changes failed on a batch of %d changes", len(batch))

    async def _dispatch(self, batch: list[tuple[RowChange, datetime]]) -> None:
        async with Dispatch(self.pool) as dispatch:
            for change, committed in batch:
                try:
                    matches = await self._matches(change)
                    if matches:
                        await dispatch.change(change, committed, matches)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
                    # Not the error text: PostgreSQL's may quote row values.
                    code = getattr(err, "sqlstate", None) or type(err).__name__
                    log.error(
                        "postgres_changes lost a change of %s.%s: %s",
                        change.schema,
                        change.table,
                        code,
                    )

    async def _matches(self, change: RowChange) -> list[Match]:
        pending = self.registry.pending(change.schema, change.table)
        if pending:
            waits = [entry.settled.wait() for entry in pending]
            try:
                await asyncio.wait_for(asyncio.gather(*waits), SETTLE_TIMEOUT)
            except TimeoutError:
                log.warning("postgres_changes went on without %d joining channels", len(pending))
        return self.registry.matches(change.schema, change.table, change.kind)
