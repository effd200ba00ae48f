"""The gateway's supervised link to Supabase Realtime: one private channel `user:<id>` per
online user, spread over several realtime-py sockets, and typing notifications over REST.

Model: `subscribe`/`unsubscribe` only edit the wanted state (which user lives on which
socket); each `UpstreamSocket` reconciles its channels with it and supervises itself
(see `upstream_socket`). A user's channel is placed on the first socket with a free slot;
a socket holds at most `channels_per_socket` user channels (Supabase allows 100 channels
per socket; one slot is the socket's control channel). Sockets are opened as needed and
empty ones closed, except the first, whose probe keeps telling `/readyz` whether
Supabase is reachable. Broadcasts received go through one queue to one consumer task that
calls `on_event`, so a slow or failing handler never stalls a realtime-py listener.

Cost per online user: one channel join (Supabase counts channels, and joins per second:
joins are paced at `max_joins_per_second`, with a 5 s burst) and 1/99 of a WebSocket, whose
control channel is probed every `probe_interval_seconds`. Measured against the embedded
server: about 10 MB of gateway RSS per 1,000 subscribed users (1,000 users, default pacing;
14 MB per 1,000 for 5,000 users joined at 1,000/s), most of it realtime-py's channel objects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from realtime import (
    AsyncRealtimeChannel,
    AsyncRealtimeClient,
    BroadcastPayload,
    RealtimeChannelOptions,
)
from realtime.exceptions import RealtimeHTTPError

from gateway.errors import ErrorCode, GatewayError
from gateway.upstream_channel import ChannelEntry, ChannelSpec
from gateway.upstream_socket import JoinPacer, UpstreamSocket

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 10.0
NOTIFY_TIMEOUT_SECONDS = 5.0
EVENT_QUEUE_MAX = 100_000  # beyond this, events are dropped (the hub's seq gaps recover messages)

Event = tuple[str, str, dict[str, Any]]


def _user_params() -> RealtimeChannelOptions:
    return {
        "config": {
            "broadcast": {"ack": False, "self": False},
            "presence": {"key": "", "enabled": False},
            "private": True,
        }
    }


class _UserLink:
    """One online user's channel callbacks (configure, subscribed, each broadcast) in one
    slotted object: partials or closures per user cost ~0.7 KB more at 10,000 users."""

    __slots__ = ("upstream", "user_id")

    def __init__(self, upstream: Upstream, user_id: str) -> None:
        self.upstream, self.user_id = upstream, user_id

    def configure(self, channel: AsyncRealtimeChannel) -> None:
        channel.on_broadcast("*", self.received)

    def subscribed(self, again: bool) -> None:
        self.upstream._user_subscribed(self.user_id, again)

    def received(self, message: BroadcastPayload) -> None:
        self.upstream._received(self.user_id, message)


class Upstream:
    def __init__(
        self,
        realtime_url: str,
        service_key: str,
        *,
        on_event: Callable[[str, str, dict[str, Any]], None],
        on_resubscribed: Callable[[str], Awaitable[None]],
        gateway_id: str,
        channels_per_socket: int = 99,
        probe_interval_seconds: float = 10.0,
        probe_timeout_seconds: float = 5.0,
        max_joins_per_second: float = 100.0,
    ) -> None:
        self.gateway_id = gateway_id
        self._url = realtime_url
        self._key = service_key
        self._on_event = on_event
        self._on_resubscribed = on_resubscribed
        self._capacity = channels_per_socket
        self._probe = (probe_interval_seconds, probe_timeout_seconds)
        self._pacer = JoinPacer(max_joins_per_second)
        self._socket_numbers = itertools.count()
        self._sockets: list[UpstreamSocket] = []  # user-channel sockets, the first kept open
        self._dedicated: list[UpstreamSocket] = []  # e.g. presence's
        self._homes: dict[str, tuple[UpstreamSocket, ChannelEntry]] = {}
        self._events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE_MAX)
        self._tasks: set[asyncio.Task[None]] = set()
        self._rest_client: AsyncRealtimeClient | None = None  # never connected: http_send only
        self._dropped = 0

    # Lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._rest_client = AsyncRealtimeClient(self._url, token=self._key, auto_reconnect=False)
        self._spawn(self._consume())
        await self._add_socket().first_attempt()

    async def close(self) -> None:
        sockets = self._sockets + self._dedicated
        self._sockets, self._dedicated = [], []
        self._homes.clear()
        await asyncio.gather(*(sock.close() for sock in sockets))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._rest_client = None

    def open_socket(self) -> UpstreamSocket:
        """A started socket for another part's channels (presence), supervised like ours,
        counted in `healthy` and the metrics, and closed by `close_socket` or `close`."""
        sock = self._new_socket()
        self._dedicated.append(sock)
        return sock

    async def close_socket(self, sock: UpstreamSocket) -> None:
        if sock in self._dedicated:
            self._dedicated.remove(sock)
        await sock.close()

    # User channels -----------------------------------------------------------------------

    async def subscribe(self, user_id: str) -> None:
        """Want `user:<id>`; returns once it is subscribed. On timeout this raises, and the
        socket keeps trying in the background."""
        home = self._homes.get(user_id)
        if home is None:
            sock = next((s for s in self._sockets if len(s) < self._capacity), None)
            if sock is None:
                sock = self._add_socket()
            home = self._homes[user_id] = (sock, sock.add(self._user_spec(user_id)))
        try:
            await asyncio.wait_for(home[1].settled(), SUBSCRIBE_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("upstream subscribe not confirmed in time user=%s", user_id)
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE) from None

    def joins_at_once(self) -> bool:
        """Would a subscription asked for now be joined without queueing (the upstream is
        up and the join quota has room)?"""
        return self.healthy and self._pacer.free()

    async def unsubscribe(self, user_id: str) -> None:
        home = self._homes.pop(user_id, None)
        if home is None:
            return
        sock = home[0]
        sock.remove(f"user:{user_id}")
        if len(sock) == 0 and len(self._sockets) > 1 and sock in self._sockets:
            self._sockets.remove(sock)
            await sock.close()

    def _user_spec(self, user_id: str) -> ChannelSpec:
        link = _UserLink(self, user_id)
        return ChannelSpec(f"user:{user_id}", _user_params, link.configure, link.subscribed)

    def _user_subscribed(self, user_id: str, again: bool) -> None:
        if again:
            self._spawn(self._resubscribed(user_id))

    def _received(self, user_id: str, message: BroadcastPayload) -> None:
        """Runs inside realtime-py's listener: never raises."""
        try:
            self._events.put_nowait((user_id, message["event"], message["payload"]))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.error("upstream event queue full: %d events dropped", self._dropped)
        except (KeyError, TypeError):
            log.warning("malformed broadcast on user:%s", user_id)

    async def _consume(self) -> None:
        while True:
            user_id, event, payload = await self._events.get()
            try:
                self._on_event(user_id, event, payload)
            except Exception:
                log.exception("on_event failed user=%s event=%s", user_id, event)

    async def _resubscribed(self, user_id: str) -> None:
        try:
            await self._on_resubscribed(user_id)
        except Exception:
            log.exception("on_resubscribed failed user=%s", user_id)

    # Typing (REST broadcast) -------------------------------------------------------------

    async def notify(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        """Broadcast `event` to the private topic `user:<id>` through Realtime's REST API,
        with realtime-py's own `http_send` (the channel need not be joined)."""
        if self._rest_client is None:
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
        channel = AsyncRealtimeChannel(
            self._rest_client, f"realtime:user:{user_id}", _user_params()
        )
        try:
            await channel.http_send(event, payload, timeout=NOTIFY_TIMEOUT_SECONDS)
        except RealtimeHTTPError as exc:
            log.warning("REST broadcast refused: HTTP %s event=%s", exc.status, event)
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE) from None
        except httpx.HTTPError as exc:
            log.warning("REST broadcast failed: %s event=%s", type(exc).__name__, event)
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE) from None

    # Health and metrics ------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        sockets = self._sockets + self._dedicated
        return bool(sockets) and all(sock.healthy for sock in sockets)

    def socket_count(self) -> int:
        return len(self._sockets) + len(self._dedicated)

    def channel_count(self) -> int:
        """User channels currently subscribed."""
        return sum(sock.subscribed_count() for sock in self._sockets)

    # Internals ---------------------------------------------------------------------------

    def _new_socket(self) -> UpstreamSocket:
        interval, timeout = self._probe
        sock = UpstreamSocket(
            self._url,
            self._key,
            control_topic=f"gateway:{self.gateway_id}:{next(self._socket_numbers)}",
            pacer=self._pacer,
            probe_interval_seconds=interval,
            probe_timeout_seconds=timeout,
        )
        sock.start()
        return sock

    def _add_socket(self) -> UpstreamSocket:
        sock = self._new_socket()
        self._sockets.append(sock)
        return sock

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
