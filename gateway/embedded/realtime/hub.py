"""The hub: who is joined to which topic, fan-out to them, and the internal API for CDC wiring.

Concurrency model: everything here is synchronous and runs on the event loop; fan-out only
encodes (once per serializer version per message) and enqueues on each socket's bounded
queue, whose own writer task does the I/O. A socket whose queue overflows is disconnected.

Internal API for Postgres Changes and Broadcast from Database (used by the WAL side):

- `hub.deliver_user_broadcast(topic, event, payload_json, private=..., meta=...)` delivers
  a UserBroadcast (as `realtime.send` rows are) to every channel joined to
  `realtime:<topic>` with that privacy whose broadcast read is allowed: a kind-4 binary
  frame for V2 sockets, `{"event","payload","type":"broadcast","meta"?}` for V1 sockets
  (binary payloads, passed as `bytes`, never reach V1 sockets). A message whose
  `meta["id"]` a channel already got by replay is not delivered to it again.
- `hub.channels()` lists joined channels (`hub.subscribers((private, sub_topic))` one
  topic's); each has `.claims` (current, updated on refresh), `.private`, `.sub_topic`,
  `.postgres_changes` (`PostgresBinding`: id, event, schema, table, filter, select, params),
  `.legacy_api` (joined without `config`: deliver INSERT/UPDATE/DELETE events),
  `.push(event, payload)` (stamped with the join_ref: `system` messages),
  `.push_system(extension, status, message)`, `.push_fastlane(event, payload)` (join_ref
  null: `postgres_changes` events; counted toward messages/s like every delivery, so a
  channel may shut down when the tenant's rate is tripped) and `.closed`.
- `hub.add_observer(obs)`: `obs.channel_joined(ch)` after the join reply,
  `obs.channel_left(ch)` when it leaves/closes/its socket dies, and
  `obs.channel_token_changed(ch)` after an `access_token` refresh — each only for channels
  with postgres_changes bindings. Observers must not block; schedule async work yourself.
- `hub.replication`: the change feed sets its status here at start-up; channels joined with
  `config.broadcast.replication_ready` are told once it runs (`replication`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import WSCloseCode, web

from gateway.embedded.realtime.limits import TOO_MANY_MESSAGES, TenantLimits
from gateway.embedded.realtime.presence import Diff, PresenceRegistry
from gateway.embedded.realtime.replication import NoReplication, ReplicationProbe
from gateway.embedded.realtime.serializer import Frame, Serializer, UserBroadcast, dumps
from gateway.embedded.realtime.settings import RealtimeSettings

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel, PubsubKey
    from gateway.embedded.realtime.connection import Connection

log = logging.getLogger(__name__)

Encoder = Callable[[Serializer, str], Frame | None]
Hook = Callable[["Channel"], None]


class ChannelObserver(Protocol):
    """Told about channels that have postgres_changes bindings."""

    def channel_joined(self, channel: Channel) -> None: ...

    def channel_left(self, channel: Channel) -> None: ...

    def channel_token_changed(self, channel: Channel) -> None: ...


def _reads_broadcast(channel: Channel) -> bool:
    return not channel.private or channel.policies.broadcast_read is True


def _reads_presence(channel: Channel) -> bool:
    return not channel.private or channel.policies.presence_read is True


class Hub:
    """Registry of joined channels by (private, sub-topic), presence, and fan-out."""

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.limits = TenantLimits(settings)
        self.presence = PresenceRegistry()
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._topics: dict[PubsubKey, dict[Channel, None]] = {}
        self._observers: list[ChannelObserver] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.replication: ReplicationProbe = NoReplication()

    def configure(self, settings: RealtimeSettings) -> None:
        """New settings (before any socket connects), and quota counters that follow them."""
        self.settings = settings
        self.limits = TenantLimits(settings)

    # Registry --------------------------------------------------------------------------

    def subscribe(self, channel: Channel) -> None:
        self._topics.setdefault(channel.key, {})[channel] = None

    def unsubscribe(self, channel: Channel) -> None:
        subscribers = self._topics.get(channel.key)
        if subscribers is None or channel not in subscribers:
            return
        del subscribers[channel]
        if not subscribers:
            del self._topics[channel.key]
        self._notify(channel, lambda observer: observer.channel_left)

    def channels(self) -> list[Channel]:
        return [ch for subscribers in self._topics.values() for ch in subscribers]

    def subscribers(self, topic: PubsubKey) -> list[Channel]:
        return list(self._topics.get(topic, ()))

    def add_observer(self, observer: ChannelObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: ChannelObserver) -> None:
        self._observers.remove(observer)

    def announce_joined(self, channel: Channel) -> None:
        self._notify(channel, lambda observer: observer.channel_joined)

    def announce_token_changed(self, channel: Channel) -> None:
        self._notify(channel, lambda observer: observer.channel_token_changed)

    def _notify(self, channel: Channel, hook: Callable[[ChannelObserver], Hook]) -> None:
        if not channel.postgres_changes:
            return
        for observer in list(self._observers):
            try:
                hook(observer)(channel)
            except Exception:
                log.exception("a channel observer failed on %s", channel.topic)

    # Fan-out ---------------------------------------------------------------------------

    def _fanout(
        self,
        topic: PubsubKey,
        encode: Encoder,
        allowed: Callable[[Channel], bool],
        exclude: Channel | None = None,
    ) -> int:
        """Send to each allowed subscriber; every delivery counts toward messages/s, and while
        that rate is tripped the channels just reached are shut down (as Supabase's)."""
        reached = self._send_all(topic, encode, allowed, exclude)
        if self.limits.delivered(len(reached)):
            for channel in reached:
                channel.shutdown(TOO_MANY_MESSAGES)
        return len(reached)

    def _send_all(
        self,
        topic: PubsubKey,
        encode: Encoder,
        allowed: Callable[[Channel], bool],
        exclude: Channel | None = None,
    ) -> list[Channel]:
        subscribers = self._topics.get(topic)
        if not subscribers:
            return []
        join_topic = "realtime:" + topic[1]
        frames: dict[int, Frame | None] = {}
        reached: list[Channel] = []
        for channel in tuple(subscribers):
            if channel is exclude or not allowed(channel):
                continue
            serializer = channel.socket.serializer
            if serializer.vsn in frames:
                frame = frames[serializer.vsn]
            else:
                frame = frames[serializer.vsn] = encode(serializer, join_topic)
            if frame is not None:
                channel.socket.send(frame)
                reached.append(channel)
        return reached

    def broadcast_json(
        self, topic: PubsubKey, payload_json: str, *, exclude: Channel | None = None
    ) -> int:
        """A Phoenix broadcast whose payload is a JSON map (V1/V2-JSON clients, REST batch)."""

        def encode(serializer: Serializer, join_topic: str) -> Frame:
            return serializer.message(None, None, join_topic, "broadcast", payload_json)

        return self._fanout(topic, encode, _reads_broadcast, exclude)

    def broadcast_user(
        self, topic: PubsubKey, ub: UserBroadcast, *, exclude: Channel | None = None
    ) -> int:
        """A user broadcast with a raw payload (binary pushes, REST single, database)."""
        message_id = ub.meta.get("id") if ub.meta else None

        def encode(serializer: Serializer, join_topic: str) -> Frame | None:
            return serializer.user_broadcast(join_topic, ub)

        def allowed(channel: Channel) -> bool:
            return _reads_broadcast(channel) and message_id not in channel.replayed_ids

        return self._fanout(topic, encode, allowed, exclude)

    def deliver_user_broadcast(
        self,
        topic: str,
        event: str,
        payload_json: str | bytes,
        *,
        private: bool,
        meta: Mapping[str, Any] | None,
    ) -> None:
        """Deliver a message to `realtime:<topic>`: str = JSON text, bytes = binary payload."""
        is_json = isinstance(payload_json, str)
        raw = payload_json.encode() if isinstance(payload_json, str) else payload_json
        self.broadcast_user((private, topic), UserBroadcast(event, raw, is_json, meta))

    def send_presence_diff(self, topic: PubsubKey, diff: Diff) -> None:
        """To every subscriber (the tracker included) allowed to read presence."""
        payload_json = dumps(diff)

        def encode(serializer: Serializer, join_topic: str) -> Frame:
            return serializer.message(None, None, join_topic, "presence_diff", payload_json)

        # Presence diffs count toward presence messages/s, not messages/s.
        reached = self._send_all(topic, encode, _reads_presence)
        if reached:
            self.limits.presence.add(len(reached))

    def untrack_presence(self, channel: Channel) -> None:
        diff = self.presence.untrack(channel)
        if diff is not None:
            self.send_presence_diff(channel.key, diff)

    # Tasks and shutdown ----------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a short background job owned by the hub (cancelled on shutdown)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_connections(self) -> None:
        going_away = WSCloseCode.GOING_AWAY
        closing = [conn.close(going_away, b"server shutdown") for conn in self.connections]
        await asyncio.gather(*closing, return_exceptions=True)

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


hub_key = web.AppKey("realtime_hub", Hub)
