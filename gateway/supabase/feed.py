"""The delivery feed: the gateway's fixed set of private Realtime topics (`chats:<k>`),
joined at start-up whatever the number of online users, and typing sent over REST.

The database publishes each message and read marker once, on its chat's topic, with the
chat's member ids; which topics exist is the database's to say (`rpc/gateway_delivery_
topics`, read as service_role at start, retried until it answers). All topics live on one
supervised socket (see `realtime_socket`); the listener hears `on_live` once all are
subscribed and `on_down` when the socket is lost. Broadcasts go through one bounded queue
to one consumer task, so a slow or failing handler never stalls realtime-py's listener.
A rejoin (after any failure) or a queue overflow asks for a position check at once: a
lost event is recovered from the database, never silent. `probe` times a round trip
through the database and the change feed (`feed_probe`), for `/readyz`.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import httpx
from realtime import (
    AsyncRealtimeChannel,
    AsyncRealtimeClient,
    BroadcastPayload,
    RealtimeChannelOptions,
)
from realtime.exceptions import RealtimeHTTPError

from gateway.errors import ErrorCode, GatewayError
from gateway.supabase.feed_probe import FeedProbe, ProbeSender
from gateway.supabase.realtime_channel import ChannelSpec
from gateway.supabase.realtime_socket import UpstreamSocket, backoff
from gateway.supabase.sockets import RealtimeSockets

__all__ = ["Feed", "FeedListener", "FeedSource", "TopicSource"]

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_SECONDS = 5.0
EVENT_QUEUE_MAX = 100_000  # beyond this, events are dropped and a position check recovers them


class FeedListener(Protocol):
    def on_event(self, event: str, payload: dict[str, Any]) -> None: ...
    def on_live(self) -> None: ...
    def on_down(self) -> None: ...


class TopicSource(Protocol):
    async def delivery_topics(self) -> list[str]: ...


class FeedSource(TopicSource, ProbeSender, Protocol):
    """What the feed asks the database: which topics, and to publish a probe."""


def _private() -> RealtimeChannelOptions:
    return {
        "config": {
            "broadcast": {"ack": False, "self": False},
            "presence": {"key": "", "enabled": False},
            "private": True,
        }
    }


class Feed:
    def __init__(
        self,
        sockets: RealtimeSockets,
        source: FeedSource,
        listener: FeedListener,
        lost: Callable[[], None],
        *,
        probe_interval: float = 5.0,
        max_lag: float = 10.0,
        queue_max: int = EVENT_QUEUE_MAX,
    ) -> None:
        self._sockets = sockets
        self._topics_source = source
        self.probe = FeedProbe(
            source,
            lambda: self.topics[0] if self.live else None,
            interval=probe_interval,
            max_lag=max_lag,
            gateway_id=sockets.gateway_id,
        )
        self._listener = listener
        self._lost = lost  # events may be missing: check positions now
        self.topics: list[str] = []
        self._subscribed: set[str] = set()
        self._sock: UpstreamSocket | None = None
        self._events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(queue_max)
        self._tasks: set[asyncio.Task[None]] = set()
        self._rest_client = AsyncRealtimeClient(
            sockets.url, token=sockets.key, auto_reconnect=False
        )
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full (each one starts a recovery)."""
        return self._dropped

    @property
    def queued(self) -> int:
        """Events received and not yet routed."""
        return self._events.qsize()

    async def start(self) -> None:
        """Open the socket and join the topics once the database has named them (in the
        background if the Data API does not answer now); returns after the first attempt."""
        self._sock = self._sockets.open_socket()
        self._spawn(self._consume())
        self._spawn(self._join_topics())
        self.probe.start()
        await self._sock.first_attempt()

    async def close(self) -> None:
        await self.probe.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def live(self) -> bool:
        return bool(self.topics) and self._subscribed.issuperset(self.topics)

    async def _join_topics(self) -> None:
        attempt = 0
        while not self.topics:
            try:
                topics = await self._topics_source.delivery_topics()
            except GatewayError as err:
                attempt += 1
                log.warning("delivery topics unavailable code=%s; retrying", err.code)
                await asyncio.sleep(backoff(attempt))
                continue
            if not topics:
                raise RuntimeError("the database names no delivery topics")
            self.topics = topics
        assert self._sock is not None
        for topic in self.topics:
            self._sock.add(
                ChannelSpec(
                    topic,
                    _private,
                    self._configure,
                    partial(self._joined, topic),
                    partial(self._left, topic),
                )
            )

    # Inside realtime-py's listener (guarded by the socket: never raises) -------------------

    def _configure(self, channel: AsyncRealtimeChannel) -> None:
        channel.on_broadcast("*", self.received)

    def _joined(self, topic: str, again: bool) -> None:
        was_live = self.live
        self._subscribed.add(topic)
        if again:
            self._lost()  # what was published while we were away comes from the database
        if self.live and not was_live:
            self._listener.on_live()

    def _left(self, topic: str) -> None:
        was_live = self.live
        self._subscribed.discard(topic)
        if was_live:
            self._listener.on_down()

    def received(self, message: BroadcastPayload) -> None:
        """realtime-py's broadcast callback for every topic: only enqueues."""
        try:
            self._events.put_nowait((message["event"], message["payload"]))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.error("upstream event queue full: %d events dropped", self._dropped)
            self._lost()
        except (KeyError, TypeError):
            log.warning("malformed broadcast on a delivery topic")

    async def _consume(self) -> None:
        while True:
            event, payload = await self._events.get()
            try:
                if event == "probe":
                    self.probe.echoed(payload)
                else:
                    self._listener.on_event(event, payload)
            except Exception:
                log.exception("on_event failed event=%s", event)

    # Typing (REST broadcast) -----------------------------------------------------------------

    async def typing(self, chat_id: str, user_id: str, member_ids: list[str]) -> None:
        """Tell the chat's other members that `user_id` is typing: once on a gateway topic
        (every gateway holds all of them; this one is picked by chat, so typing spreads
        like messages) and on each other member's `user:<id>` for direct subscribers."""
        if not self.topics:
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
        topic = self.topics[zlib.crc32(chat_id.encode()) % len(self.topics)]
        payload = {"chat_id": chat_id, "user_id": user_id}
        sends = [self._http_send(topic, {**payload, "member_ids": member_ids})]
        sends += [self._http_send(f"user:{m}", payload) for m in member_ids if m != user_id]
        await asyncio.gather(*sends)

    async def _http_send(self, topic: str, payload: dict[str, Any]) -> None:
        channel = AsyncRealtimeChannel(self._rest_client, f"realtime:{topic}", _private())
        try:
            await channel.http_send("typing", payload, timeout=NOTIFY_TIMEOUT_SECONDS)
        except RealtimeHTTPError as exc:
            log.warning("REST broadcast refused: HTTP %s", exc.status)
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE) from None
        except httpx.HTTPError as exc:
            log.warning("REST broadcast failed: %s", type(exc).__name__)
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE) from None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
