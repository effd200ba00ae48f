"""Change data capture for the embedded Realtime server: one WAL stream feeds Broadcast from
Database (rows of realtime.messages) and Postgres Changes (tables in supabase_realtime)."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded.cdc.feed import feed_ctx


def setup(app: web.Application) -> None:
    """Start the change feed with the app (after the Realtime hub exists)."""
    app.cleanup_ctx.append(feed_ctx)
