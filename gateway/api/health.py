"""/healthz (the process answers), /readyz (the Data API and Realtime are reachable, and
a probe published by the database comes back through Realtime in time) and /metrics
(for the holder of `server.metrics_token` only)."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from gateway.errors import ErrorCode, GatewayError
from gateway.services import services_key

# /readyz answers within a second whatever the database does: a load balancer's probe
# must not hang on a Data API that waits on a stopped (or unanswering) PostgreSQL.
READY_PING_SECONDS = 0.8


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[services_key]
    checks = {
        "database": True,
        "realtime": services.realtime.healthy and services.feed.live,
        "change_feed": services.feed.probe.healthy,
    }
    try:
        async with asyncio.timeout(READY_PING_SECONDS):
            await services.store.ping(services.config.supabase.service_key)
    except (GatewayError, TimeoutError):
        checks["database"] = False
    ready = all(checks.values())
    lag = services.feed.probe.lag()
    return web.json_response(
        {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "change_feed_lag_seconds": None if lag is None else round(lag, 3),
        },
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    """Only for whoever holds `server.metrics_token` (Prometheus: `authorization:
    credentials`); without one configured the endpoint does not exist. The numbers tell
    an outsider how loaded the gateway is and which errors it hands out."""
    services = request.app[services_key]
    expected = services.config.server.metrics_token
    if not expected:
        raise GatewayError(ErrorCode.NOT_FOUND)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise GatewayError(ErrorCode.AUTH_REQUIRED, "/metrics needs its bearer token")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise GatewayError(ErrorCode.TOKEN_INVALID, "not the metrics token")
    collected = services.metrics
    return web.Response(body=collected.render(), headers={"Content-Type": collected.content_type})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
