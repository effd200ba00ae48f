"""The embedded API server: /rest/v1, /auth/v1 and /realtime/v1 on one aiohttp app, behind
the API gateway's key check (`api_gateway`)."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded import auth, cdc, realtime, rest
from gateway.embedded.api_gateway import require_api_key
from gateway.embedded.appkeys import EmbeddedContext, context_key

# Bodies up to Supabase's broadcast payload cap (3,000 KB) plus framing.
MAX_BODY_BYTES = 4 * 1024 * 1024


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_embedded_app(context: EmbeddedContext) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[require_api_key(context.config)]
    )
    app[context_key] = context
    app.router.add_get("/health", _health)
    rest.setup(app)
    auth.setup(app)
    realtime.setup(app)
    cdc.setup(app)  # after realtime: the feed delivers through its hub
    return app
