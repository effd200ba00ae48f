"""What request handlers share, under one typed AppKey."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from aiohttp import web

from gateway.auth import TokenVerifier
from gateway.config import Config
from gateway.connection import Connection
from gateway.expiry import ExpiryWatch
from gateway.heartbeat import Heartbeat
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.presence import Presence
from gateway.store import Store
from gateway.upstream import Upstream


@dataclass
class Services:
    config: Config
    verifier: TokenVerifier
    store: Store
    hub: Hub
    presence: Presence
    upstream: Upstream
    metrics: Metrics
    heartbeat: Heartbeat[Connection]
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
    expiry: ExpiryWatch[Connection] = field(default_factory=lambda: ExpiryWatch(Connection.expire))


services_key = web.AppKey("services_key", Services)
