"""Who is online on any gateway, through Supabase Realtime presence on the private topic
`online-users`.

Topic and payload (README): each gateway joins `online-users` privately with the presence
key `gateway:<gateway_id>` and tracks one meta per shard of its connected users:

    {"gateway_id": "<gateway_id>", "shard": <n>, "users": ["<user uuid>", ...]}  # sorted

A user is online when their id is in the `users` of any meta under any key. A direct
Supabase subscriber (any signed-in user may read the topic; only service_role may track)
joins `online-users` with `{"config": {"private": true, "presence": {"enabled": true}}}`
and reads the metas from presence_state/presence_diff (supabase-js `presenceState()`).
When a gateway stops or dies its sockets close and Realtime drops its metas.

Design, within Realtime's rules (one presence key per channel join, one join per topic per
socket, 5 presence calls per 30 s per channel): a fixed number of shards, joined at start,
whatever the number of users; shard n (a user's shard is crc32(user id) mod shards) is one
join of `online-users` on its own supervised socket (`RealtimeSockets.open_socket`). Each
shard publishes at most once per `update_interval_seconds`
(6.5 s keeps under 5 calls per 30 s), and only when its set changed, so a burst of
connects is one track. Shard 0 also reads: its presence callbacks keep a count per user of
the other gateways' metas naming them (our own key is skipped: `local_*` is the truth for
this gateway), and the listeners (`listen`) hear `(user, online)` when a user's global
status flips — at once for local changes, on the next presence sync for remote ones.
Lag seen by others: up to `update_interval_seconds` plus Realtime's replication between
its nodes (~1.5 s).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from realtime import AsyncRealtimeChannel, RealtimeChannelOptions
from realtime._async.presence import AsyncRealtimePresence
from realtime.types import RawPresenceDiff, RawPresenceState

from gateway.supabase.realtime_channel import ChannelEntry, ChannelSpec, guarded, push_acked
from gateway.supabase.realtime_socket import UpstreamSocket
from gateway.supabase.sockets import RealtimeSockets

__all__ = ["OnlineUsers"]

log = logging.getLogger(__name__)

TOPIC = "online-users"
TRACK_TIMEOUT_SECONDS = 5.0
# A meta of 5,000 user ids is ~200 KB, under the 256 KB payload cap of Supabase's Free plan.
# Few shards matter: every shard's join receives (and realtime-py keeps) every meta of the
# topic, so a gateway holds `shards x users` ids (4 shards: ~0.2 KB per user).


@dataclass(eq=False)
class _Shard:
    number: int
    socket: UpstreamSocket
    entry: ChannelEntry | None = None
    channel: AsyncRealtimeChannel | None = None  # the current join's channel object
    users: set[str] = field(default_factory=set)
    published: list[str] | None = None  # what this join has tracked (None: nothing)
    last_call: float = float("-inf")  # of a presence call on this join (rate limit)
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    flusher: asyncio.Task[None] | None = None


class _UnheardPresence(AsyncRealtimePresence):
    """The presence of a write-only shard's join: realtime-py would keep its own copy of every
    meta on the topic (every gateway's users) per join; only shard 0 reads them, so the
    others drop what they are sent (~0.2 KB per online user per shard)."""

    def _on_state_event(self, payload: RawPresenceState) -> None:
        pass

    def _on_diff_event(self, payload: RawPresenceDiff) -> None:
        pass


def _users(metas: Iterable[dict[str, Any]]) -> list[str]:
    """Each meta's users once per meta: a user named by two metas counts twice."""
    found: list[str] = []
    for meta in metas:
        users = meta.get("users")
        if isinstance(users, list):
            found.extend({u for u in users if isinstance(u, str)})
    return found


class OnlineUsers:
    def __init__(
        self,
        sockets: RealtimeSockets,
        *,
        shards: int,
        update_interval_seconds: float = 6.5,
    ) -> None:
        self._sockets = sockets
        self.gateway_id = sockets.gateway_id
        self._key = f"gateway:{sockets.gateway_id}"
        self._listeners: list[Callable[[str, bool], None]] = []
        self._interval = update_interval_seconds
        self._shard_count = shards
        self._shards: list[_Shard] = []  # the first one also reads
        self._local: set[str] = set()
        self._remote: Counter[str] = Counter()  # user → metas of other gateways naming them
        self._touched: set[str] = set()  # remote counts changed since the last sync
        self._online: set[str] = set()

    # Lifecycle ---------------------------------------------------------------------------

    def listen(self, on_change: Callable[[str, bool], None]) -> None:
        """Hear every user's global status flip (wired once, at start-up)."""
        self._listeners.append(guarded(on_change, "presence listener"))

    async def start(self) -> None:
        for _ in range(self._shard_count):
            self._add_shard()
        await self._shards[0].socket.first_attempt()

    async def close(self) -> None:
        shards, self._shards = self._shards, []
        await asyncio.gather(*(self._close_shard(shard) for shard in shards))

    # Local users -------------------------------------------------------------------------

    def local_online(self, user_id: str) -> None:
        if user_id in self._local:
            return
        self._local.add(user_id)
        shard = self._shard_of(user_id)
        shard.users.add(user_id)
        shard.dirty.set()
        self._settle([user_id])

    def local_offline(self, user_id: str) -> None:
        if user_id not in self._local:
            return
        self._local.discard(user_id)
        shard = self._shard_of(user_id)
        shard.users.discard(user_id)
        shard.dirty.set()
        self._settle([user_id])

    def _shard_of(self, user_id: str) -> _Shard:
        return self._shards[zlib.crc32(user_id.encode()) % len(self._shards)]

    # Queries -----------------------------------------------------------------------------

    def is_online(self, user_id: str) -> bool:
        return user_id in self._online

    def online_users(self) -> set[str]:
        return set(self._online)

    def held_metas(self) -> list[int]:
        """How many presence metas realtime-py holds for each shard's join (only the
        reader, shard 0, holds any)."""
        return [
            sum(map(len, s.channel.presence_state().values())) if s.channel else 0
            for s in self._shards
        ]

    def _settle(self, users: Iterable[str]) -> None:
        for user in users:
            online = user in self._local or self._remote[user] > 0
            if online == (user in self._online):
                continue
            if online:
                self._online.add(user)
            else:
                self._online.discard(user)
            for listener in self._listeners:
                listener(user, online)

    # Shards ------------------------------------------------------------------------------

    def _add_shard(self) -> _Shard:
        shard = _Shard(len(self._shards), self._sockets.open_socket())
        reader = not self._shards
        self._shards.append(shard)
        spec = ChannelSpec(
            TOPIC,
            self._params,
            lambda channel: self._configure(shard, channel, reader),
            lambda _again: self._subscribed(shard, reader),
        )
        shard.entry = shard.socket.add(spec)
        shard.flusher = asyncio.get_running_loop().create_task(self._flush(shard))
        return shard

    async def _close_shard(self, shard: _Shard) -> None:
        if shard.flusher is not None:
            shard.flusher.cancel()
            await asyncio.gather(shard.flusher, return_exceptions=True)
        await self._sockets.close_socket(shard.socket)

    def _params(self) -> RealtimeChannelOptions:
        return {
            "config": {
                "broadcast": {"ack": False, "self": False},
                "presence": {"key": self._key, "enabled": True},
                "private": True,
            }
        }

    def _configure(self, shard: _Shard, channel: AsyncRealtimeChannel, reader: bool) -> None:
        shard.channel = channel
        if not reader:
            channel.presence = _UnheardPresence()
            return
        # Registered before the join: realtime-py rejoins a joined channel to add them.
        channel.on_presence_join(guarded(lambda key, _c, new: self._seen(key, new, 1), "join"))
        channel.on_presence_leave(guarded(lambda key, _c, gone: self._seen(key, gone, -1), "leave"))
        channel.on_presence_sync(guarded(self._synced, "presence sync"))

    def _subscribed(self, shard: _Shard, reader: bool) -> None:
        # A new join: the server has none of this shard's metas and a fresh rate window.
        shard.published, shard.last_call = None, float("-inf")
        shard.dirty.set()
        if reader:  # its presence_state follows and rebuilds the counts from scratch
            self._touched.update(self._remote)
            self._remote = Counter()

    def _seen(self, key: str, metas: list[Any], delta: int) -> None:
        if key == self._key:
            return
        for user in _users(metas):
            self._remote[user] += delta
            if self._remote[user] <= 0:
                del self._remote[user]
            self._touched.add(user)

    def _synced(self) -> None:
        touched, self._touched = self._touched, set()
        self._settle(touched)

    async def _flush(self, shard: _Shard) -> None:
        """Publish the shard's users: at most once per interval, and only when changed."""
        loop = asyncio.get_running_loop()
        while True:
            await shard.dirty.wait()
            wait = shard.last_call + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            assert shard.entry is not None
            await shard.entry.settled()
            shard.dirty.clear()
            users, channel = sorted(shard.users), shard.channel
            if channel is None or users == (shard.published or []):
                continue
            shard.last_call = loop.time()
            if users:
                meta = {"gateway_id": self.gateway_id, "shard": shard.number, "users": users}
                message = {"event": "track", "payload": meta}
            else:
                message = {"event": "untrack", "payload": {}}
            if not await push_acked(channel, "presence", message, TRACK_TIMEOUT_SECONDS):
                log.warning("presence update of shard %d not confirmed", shard.number)
                shard.dirty.set()
            elif shard.channel is channel:
                shard.published = users or None
