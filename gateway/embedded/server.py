"""The embedded API server: /rest/v1, /auth/v1 and /realtime/v1 on one aiohttp app, behind
the API gateway's key check (`api_gateway`), plus /health (503 with the failing check when
Realtime's change feed is down or behind) and /metrics (Prometheus)."""

from __future__ import annotations

from aiohttp import web

from gateway.embedded import auth, cdc, realtime, rest
from gateway.embedded.api_gateway import require_api_key
from gateway.embedded.appkeys import (
    EmbeddedContext,
    context_key,
    faults_key,
    feed_key,
    metrics_key,
)
from gateway.embedded.cdc.health import FeedReport, report
from gateway.embedded.faults import FaultHooks
from gateway.embedded.metrics import EmbeddedMetrics

# Bodies up to Supabase's broadcast payload cap (3,000 KB) plus framing.
MAX_BODY_BYTES = 4 * 1024 * 1024


async def _feed_report(app: web.Application) -> FeedReport:
    context = app[context_key]
    return await report(app[feed_key], context.pool, context.config.change_feed_max_lag_seconds)


async def _health(request: web.Request) -> web.Response:
    feed = await _feed_report(request.app)
    checks = feed.checks()
    ok = all(checks.values())
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks, "change_feed": feed.details()},
        status=200 if ok else 503,
    )


async def _metrics(request: web.Request) -> web.Response:
    feed = await _feed_report(request.app)
    metrics = request.app[metrics_key]
    metrics.lag_seconds.set(feed.lag_seconds)
    metrics.lag_bytes.set(-1 if feed.lag_bytes is None else feed.lag_bytes)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


def create_embedded_app(context: EmbeddedContext) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[require_api_key(context.config)]
    )
    app[context_key] = context
    app[metrics_key] = EmbeddedMetrics()
    app[faults_key] = FaultHooks()
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    rest.setup(app)
    auth.setup(app)
    realtime.setup(app)
    cdc.setup(app)  # after realtime: the feed delivers through its hub
    return app
