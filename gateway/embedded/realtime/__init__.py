"""Embedded Realtime server: Supabase Realtime's WebSocket protocol and REST broadcast API.

`setup(app)` mounts the socket at /realtime/v1/websocket and /socket/websocket and the
REST API at /realtime/v1/api/broadcast (and /api/broadcast). `app[hub_key]` is the hub,
the internal API for Postgres Changes and Broadcast from Database (see `hub`);
`app[settings_key]`, set before startup, replaces the limits and timeouts taken from the
embedded config (`RealtimeSettings.from_config`); `app[hub_key].limits` are the tenant quotas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.embedded.appkeys import context_key
from gateway.embedded.realtime import rest_api
from gateway.embedded.realtime.channel import Channel, PostgresBinding
from gateway.embedded.realtime.hub import ChannelObserver, Hub, hub_key
from gateway.embedded.realtime.settings import RealtimeSettings, settings_key
from gateway.embedded.realtime.socket import websocket_handler

__all__ = [
    "Channel",
    "ChannelObserver",
    "Hub",
    "PostgresBinding",
    "RealtimeSettings",
    "hub_key",
    "settings_key",
    "setup",
]


def setup(app: web.Application) -> None:
    """Register this part's routes and background tasks on the embedded app."""
    hub = Hub(RealtimeSettings.from_config(app[context_key].config))
    app[hub_key] = hub
    for path in ("/realtime/v1/websocket", "/socket/websocket"):
        app.router.add_get(path, websocket_handler)
    rest_api.add_routes(app, ("/realtime/v1", ""))
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_close_sockets)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    hub = app[hub_key]
    hub.configure(app.get(settings_key, hub.settings))
    yield
    await hub.cancel_tasks()


async def _close_sockets(app: web.Application) -> None:
    await app[hub_key].close_connections()
