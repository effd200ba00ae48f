"""create_app(config): the gateway as an aiohttp application.

Resources open in cleanup_ctx order — HTTP clients, then the delivery core (local users,
routing, recovery, the position check) and its Realtime feed and presence — and close in
reverse, only if they opened. On shutdown every
client socket is closed with 1001 (going away) before the upstream goes.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import WSCloseCode, web

from gateway.api import health, openapi, rest, ws
from gateway.api.admission import Admission, admission_key
from gateway.api.heartbeat import Heartbeat
from gateway.api.limits import UserRates, user_rates_key
from gateway.api.middleware import cors, errors
from gateway.auth.jwks import JwksCache
from gateway.auth.verifier import TokenVerifier
from gateway.config import Config
from gateway.delivery.client import Connection
from gateway.delivery.positions import PositionCheck
from gateway.delivery.recovery import Recovery
from gateway.delivery.router import Router
from gateway.delivery.start_points import StartPointReader
from gateway.delivery.users import LocalUsers
from gateway.delivery.visibility import BlockFeed, Visibility
from gateway.delivery.watchers import PeerWatch
from gateway.errors import ErrorCode, GatewayError
from gateway.metrics import Metrics
from gateway.services import Services, services_key
from gateway.supabase import realtime_parse
from gateway.supabase.data_api import DataApi, data_api_pool
from gateway.supabase.feed import Feed
from gateway.supabase.online import OnlineUsers
from gateway.supabase.sockets import RealtimeSockets
from gateway.supabase.store import ServiceReads, Store

GC_YOUNG_THRESHOLD = 50_000


def jwks_url(config: Config) -> str:
    return (
        config.auth.jwks_url or f"{config.supabase.url.rstrip('/')}/auth/v1/.well-known/jwks.json"
    )


def _alerting_metrics(metrics: Metrics, feed: Feed, recovery: Recovery) -> None:
    """What the alert rules (ops/prometheus/alerts.yml) watch beyond the core metrics: all
    read at scrape time from state the components keep anyway, so nothing on the hot path."""
    metrics.gauge(
        "gateway_upstream_live",
        "1 while the gateway holds every delivery topic upstream, else 0.",
        lambda: float(feed.live),
    )
    metrics.counter(
        "gateway_upstream_events_dropped",
        "Realtime events dropped because the gateway's upstream event queue was full.",
        lambda: float(feed.dropped),
    )
    metrics.gauge(
        "gateway_upstream_event_queue",
        "Realtime events received and not yet routed to sockets.",
        lambda: float(feed.queued),
    )
    metrics.gauge(
        "gateway_recovery_backlog",
        "Gap fills in progress: (socket, chat) pairs waiting for messages from the database.",
        lambda: float(recovery.backlog),
    )


def _services_ctx(config: Config) -> object:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        base = config.supabase.url.rstrip("/")
        service_key = config.supabase.service_key
        metrics = Metrics()
        async with aiohttp.ClientSession() as session:
            verifier = TokenVerifier(
                secret=config.auth.jwt_secret,
                jwks=JwksCache(jwks_url(config), session),
                audience=config.auth.audience,
                algorithms=config.auth.algorithms,
                leeway_seconds=config.auth.leeway_seconds,
                issuer=config.auth.issuer,
            )
            data_api = data_api_pool(f"{base}/rest/v1")
            store = Store(DataApi(f"{base}/rest/v1", config.supabase.anon_key, data_api))
            service = ServiceReads(store, service_key)
            realtime_parse.install()  # realtime-py's frame parsing, ~12x faster
            sockets = RealtimeSockets(
                f"{base}/realtime/v1",
                service_key,
                gateway_id=uuid.uuid4().hex[:12],
                max_joins_per_second=config.limits.upstream_joins_per_second,
            )
            # Wired once, in dependency order: who is here, who they watch, where their
            # events go, how what was lost comes back.
            online = OnlineUsers(sockets, shards=config.delivery.presence_shards)
            start_points = StartPointReader(service)
            users = LocalUsers(start_points)
            visibility = Visibility()
            watch = PeerWatch(users, online, visibility)
            online.listen(watch.on_presence)
            visibility.listen(watch.on_visibility)
            router = Router(users, watch, online, metrics)
            blocks = BlockFeed(
                router, visibility, store, service_key, config.delivery.presence_visibility
            )
            recovery = Recovery(store, users)
            positions = PositionCheck(
                service,
                store,
                service_key,
                users,
                router,
                recovery,
                metrics,
                interval=config.delivery.position_check_seconds,
            )
            feed = Feed(
                sockets,
                service,
                blocks,
                positions.check_soon,
                probe_interval=config.delivery.position_check_seconds,
                max_lag=config.delivery.max_feed_lag_seconds,
            )
            metrics.gauge(
                "gateway_upstream_sockets", "Realtime sockets open.", sockets.socket_count
            )
            metrics.gauge(
                "gateway_upstream_channels", "Realtime channels joined.", sockets.channel_count
            )
            _alerting_metrics(metrics, feed, recovery)
            metrics.gauge(
                "gateway_change_feed_lag_seconds",
                "Round trip of the last probe published by the database (or the age of one "
                "still outstanding), through Realtime.",
                lambda: feed.probe.lag() or 0.0,
            )
            heartbeat = Heartbeat[Connection](config.limits.ws_heartbeat_seconds)
            app[services_key] = Services(
                config,
                verifier,
                store,
                router,
                recovery,
                feed,
                online,
                sockets,
                metrics,
                heartbeat,
                visibility,
            )
            await feed.start()
            await online.start()
            positions.start()
            # Everything built so far (modules, schemas, clients) lives as long as the
            # process: keep it out of full collections, which otherwise rescan it every
            # time (measured: 160-225 ms pauses at 2,000 users, the p99 latency tail).
            gc.freeze()
            # Per-message objects live for milliseconds; with the default young threshold
            # (700) they get promoted under load and trigger full collections. Collect the
            # young generation less often so they die young.
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            try:
                yield
            finally:
                app[services_key].expiry.close()
                await heartbeat.close()
                await positions.close()
                await recovery.close()
                await start_points.close()
                await feed.close()
                await blocks.close()
                await online.close()
                await sockets.close()
                await data_api.close()

    return ctx


async def _close_sockets(app: web.Application) -> None:
    """All at once: a close waits for the client's reply, so one client that is not
    reading held up the 1001 of every socket after it until the shutdown timeout cut
    them off without one (1006)."""
    going = GatewayError(ErrorCode.SHUTTING_DOWN).code.encode()
    sockets = list(app[services_key].sockets)
    await asyncio.gather(
        *(socket.close(code=WSCloseCode.GOING_AWAY, message=going) for socket in sockets),
        return_exceptions=True,
    )


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[errors, cors],
        client_max_size=256 * 1024,
        handler_args={"keepalive_timeout": config.server.keepalive_timeout_seconds},
    )
    app[user_rates_key] = UserRates(config.limits)
    app[admission_key] = Admission(config.limits, trusted_proxies=config.server.trusted_proxies)
    app.cleanup_ctx.append(_services_ctx(config))  # type: ignore[arg-type]
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws", ws.serve_ws)
    app.router.add_get("/ws/{receiver_id}", ws.serve_ws)
    rest.setup(app)
    openapi.setup(app)
    health.setup(app)
    return app
