"""Change data capture for the embedded Realtime server: one WAL stream feeds Broadcast from
Database (rows of realtime.messages) and Postgres Changes (tables in supabase_realtime)."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded.appkeys import feed_key
from gateway.embedded.cdc.feed import feed_ctx
from gateway.embedded.cdc.health import FeedStatus
from gateway.embedded.realtime.hub import hub_key


def setup(app: web.Application) -> None:
    """Start the change feed with the app (after the Realtime hub exists)."""
    status = FeedStatus()
    app[feed_key] = status
    app[hub_key].replication = status  # channels asking `replication_ready` watch the feed
    app.cleanup_ctx.append(feed_ctx)
