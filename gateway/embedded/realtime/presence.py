"""Presence: the node's in-memory tracker and the channel's `presence` event (track/untrack).

One meta per channel join, grouped by presence key: several channels (on one or several
sockets) with the same key give several metas under it, as Phoenix.Presence does.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from gateway.embedded.realtime.authorization import (
    AuthorizationError,
    read_policies,
    write_policies,
)
from gateway.embedded.realtime.limits import TOO_MANY_PRESENCE
from gateway.embedded.realtime.serializer import Ref, dumps

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel, PubsubKey

log = logging.getLogger(__name__)

Meta = dict[str, Any]
Diff = dict[str, dict[str, Any]]


def _new_ref() -> str:
    # Phoenix refs are opaque 16-character strings.
    return base64.urlsafe_b64encode(os.urandom(12)).decode()


def _entry(key: str, meta: Meta) -> dict[str, Any]:
    return {key: {"metas": [meta]}}


class PresenceRegistry:
    """pubsub key → presence key → channel → meta. Diffs are returned, not sent."""

    def __init__(self) -> None:
        self._topics: dict[PubsubKey, dict[str, dict[Channel, Meta]]] = {}

    def track(self, channel: Channel, payload: Meta) -> Diff:
        """Track or update this channel's meta; an update is a join plus a leave."""
        key = channel.presence_key
        metas = self._topics.setdefault(channel.key, {}).setdefault(key, {})
        old = metas.get(channel)
        meta = {**payload, "phx_ref": _new_ref()}
        if old is not None:
            meta["phx_ref_prev"] = old["phx_ref"]
        metas[channel] = meta
        return {"joins": _entry(key, meta), "leaves": {} if old is None else _entry(key, old)}

    def untrack(self, channel: Channel) -> Diff | None:
        keys = self._topics.get(channel.key)
        metas = keys.get(channel.presence_key) if keys else None
        if keys is None or metas is None or channel not in metas:
            return None
        old = metas.pop(channel)
        if not metas:
            del keys[channel.presence_key]
            if not keys:
                del self._topics[channel.key]
        return {"joins": {}, "leaves": _entry(channel.presence_key, old)}

    def state(self, topic: PubsubKey) -> dict[str, Any]:
        keys = self._topics.get(topic, {})
        return {key: {"metas": list(metas.values())} for key, metas in keys.items()}


def _within_rate_limit(channel: Channel) -> bool:
    """Supabase's fixed window: max_calls per window, untrack and unknown events included."""
    settings = channel.socket.hub.settings
    now = time.monotonic()
    if channel.presence_window_ends is None or now > channel.presence_window_ends:
        channel.presence_calls = 1
        channel.presence_window_ends = now + settings.presence_window_seconds
        return True
    if channel.presence_calls >= settings.presence_max_calls:
        return False
    channel.presence_calls += 1
    return True


async def _may_track(channel: Channel) -> bool:
    """Private channels need presence write (and read, evaluated now if it never was)."""
    if not channel.private:
        return True
    policies = channel.policies
    if policies.presence_write is None:
        pool = channel.socket.context.pool
        ctx = channel.auth_context()
        try:
            if policies.presence_read is None:
                await read_policies(pool, ctx, policies, presence=True)
            await write_policies(pool, ctx, policies)
        except AuthorizationError as exc:
            log.warning("%s on presence authorization of %s", exc.code, channel.topic)
            return False
    return policies.presence_write is True


async def handle_presence(channel: Channel, payload: Any, ref: Ref) -> None:
    """The client's `presence` push: `{"event": "track"|"untrack", "payload": {...}}`."""
    if not isinstance(payload, dict) or "event" not in payload:
        channel.reply(ref, "ok", {})
        return
    if not _within_rate_limit(channel):
        log.warning("ClientPresenceRateLimitReached on %s", channel.topic)
        channel.shutdown("Client presence rate limit exceeded")
        return
    hub = channel.socket.hub
    event = payload["event"]
    event = event.lower() if isinstance(event, str) else event
    if event == "untrack":
        diff = hub.presence.untrack(channel)
        channel.presence_payload = None
        channel.reply(ref, "ok", {})
        if diff is not None:
            hub.send_presence_diff(channel.key, diff)
        return
    if event != "track":
        log.warning("UnknownPresenceEvent on %s", channel.topic)
        channel.reply(ref, "error", {})
        return
    allowed = await _may_track(channel)
    if channel.closed:
        return
    if not allowed:
        channel.reply(ref, "error", {})
        return
    meta = payload.get("payload", {})
    if not isinstance(meta, dict):
        channel.reply(ref, "error", {"reason": "Presence track payload must be a map"})
        return
    if meta == channel.presence_payload:
        channel.reply(ref, "ok", {})
        return
    if len(dumps(meta).encode()) > hub.settings.max_payload_bytes:
        channel.shutdown("Track message size exceeded")
        return
    if not hub.limits.presence_allowed():
        log.warning("PresenceRateLimitReached on %s", channel.topic)
        channel.shutdown(TOO_MANY_PRESENCE)
        return
    diff = hub.presence.track(channel, meta)
    channel.presence_enabled = True
    channel.presence_payload = meta
    channel.reply(ref, "ok", {})
    hub.send_presence_diff(channel.key, diff)
