"""The embedded API server: /rest/v1, /auth/v1 and /realtime/v1 on one aiohttp app, plus
/health and /metrics (Prometheus)."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded import auth, cdc, realtime, rest
from gateway.embedded.appkeys import EmbeddedContext, context_key, metrics_key
from gateway.embedded.metrics import EmbeddedMetrics

# Bodies up to Supabase's broadcast payload cap (3,000 KB) plus framing.
MAX_BODY_BYTES = 4 * 1024 * 1024


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[metrics_key]
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


def create_embedded_app(context: EmbeddedContext) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[context_key] = context
    app[metrics_key] = EmbeddedMetrics()
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    rest.setup(app)
    auth.setup(app)
    realtime.setup(app)
    cdc.setup(app)  # after realtime: the feed delivers through its hub
    return app
