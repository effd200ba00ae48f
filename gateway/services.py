"""What request handlers share, under one typed AppKey."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from aiohttp import web

from gateway.api.heartbeat import Heartbeat
from gateway.auth.expiry import ExpiryWatch
from gateway.auth.verifier import TokenVerifier
from gateway.config import Config
from gateway.delivery.client import Connection
from gateway.delivery.recovery import Recovery
from gateway.delivery.router import Router
from gateway.delivery.visibility import Visibility
from gateway.metrics import Metrics
from gateway.supabase.feed import Feed
from gateway.supabase.online import OnlineUsers
from gateway.supabase.sockets import RealtimeSockets
from gateway.supabase.store import Store


@dataclass
class Services:
    config: Config
    verifier: TokenVerifier
    store: Store
    router: Router
    recovery: Recovery
    feed: Feed
    online: OnlineUsers
    realtime: RealtimeSockets
    metrics: Metrics
    heartbeat: Heartbeat[Connection]
    visibility: Visibility  # the blocks between users (presence, typing)
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
    expiry: ExpiryWatch[Connection] = field(default_factory=lambda: ExpiryWatch(Connection.expire))


services_key = web.AppKey("services_key", Services)
