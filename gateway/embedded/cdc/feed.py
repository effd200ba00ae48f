"""The change feed: one WAL stream, consumed in commit order.

Broadcasts are delivered inline (cheap, in order; the `drop_broadcast` fault hook is asked
first). Row changes of published tables go to the Postgres Changes dispatcher, which hands
them to each subscribed channel's queue; the RLS and filter checks run there, so neither
broadcasts nor other channels wait on them. Every transaction is acked once handed over,
and the time it was in hand is the feed's lag (cdc.lag, reported by /health and /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.embedded.appkeys import context_key, faults_key, feed_key, metrics_key
from gateway.embedded.cdc import broadcasts, retention
from gateway.embedded.cdc.lag import FeedLag
from gateway.embedded.cdc.postgres_changes import PostgresChanges
from gateway.embedded.faults import FaultHooks
from gateway.embedded.realtime.hub import Hub, hub_key
from gateway.embedded.wal.changes import Transaction
from gateway.embedded.wal.stream import WalStream, WalStreamError

log = logging.getLogger(__name__)

PUBLICATIONS = ("supabase_realtime", "supabase_realtime_messages_publication")


async def consume(
    stream: WalStream, hub: Hub, changes: PostgresChanges, lag: FeedLag, faults: FaultHooks
) -> None:
    async for transaction in stream:
        lag.started(transaction.commit_time)
        await changes.ready()  # backpressure: wait while Postgres Changes is far behind
        try:
            handle(transaction, hub, changes, faults)
        except Exception:  # one bad row must not stop delivery of everything after it
            log.exception("change feed failed on a transaction; continuing")
        stream.ack(transaction.end_lsn)
        lag.finished()


def handle(
    transaction: Transaction, hub: Hub, changes: PostgresChanges, faults: FaultHooks
) -> None:
    for change in transaction.changes:
        if broadcasts.is_message_insert(change):
            broadcasts.deliver(hub, change, faults)
        elif change.schema != "realtime":
            changes.submit(change, transaction)


async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
    context, hub, status, metrics = app[context_key], app[hub_key], app[feed_key], app[metrics_key]
    stream = WalStream(context.database_url, PUBLICATIONS)
    changes = PostgresChanges(context.pool, hub, metrics)
    lag = FeedLag(metrics)
    await stream.start()
    changes.start()
    consumer = asyncio.create_task(
        _supervised(stream, hub, changes, lag, app[faults_key]), name="cdc-feed"
    )
    status.lag, status.stream, status.changes, status.consumer = lag, stream, changes, consumer
    sweeper = asyncio.create_task(retention.sweep_forever(context.pool), name="cdc-retention")
    try:
        yield
    finally:
        for task in (consumer, sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await changes.stop()
        await stream.stop()


async def _supervised(
    stream: WalStream, hub: Hub, changes: PostgresChanges, lag: FeedLag, faults: FaultHooks
) -> None:
    try:
        await consume(stream, hub, changes, lag, faults)
    except WalStreamError:
        log.exception("the WAL stream ended; Realtime delivery from the database has stopped")
