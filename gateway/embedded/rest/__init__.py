"""The embedded Data API: a PostgREST-compatible subset at /rest/v1 (tables, views and
rpc/<function>), enough for supabase-py and supabase-js, with RLS deciding as on Supabase."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded.appkeys import context_key
from gateway.embedded.rest.handlers import DataApi


def setup(app: web.Application) -> None:
    """Register this part's routes and background tasks on the embedded app."""
    api = DataApi(app[context_key])
    app.router.add_route("*", "/rest/v1", api.handle)
    app.router.add_route("*", "/rest/v1/{path:.*}", api.handle)
