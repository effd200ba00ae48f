"""Client broadcasts on a joined channel: write check, size cap, `self` and `ack` semantics.

A JSON map (V1, or V2 JSON) is re-broadcast verbatim as a Phoenix broadcast; a binary
user broadcast push (V2 kind 3) becomes a user broadcast (kind 4 for V2, JSON for V1).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.embedded.realtime.authorization import AuthorizationError, write_policies
from gateway.embedded.realtime.serializer import Ref, UserBroadcast, dumps

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel, PubsubKey
    from gateway.embedded.realtime.hub import Hub

log = logging.getLogger(__name__)

PAYLOAD_SIZE_EXCEEDED = "payload_size_exceeded"


def publish(
    hub: Hub, topic: PubsubKey, payload: dict[str, Any] | UserBroadcast, *, exclude: Channel | None
) -> bool:
    """Fan a broadcast out; False (nothing sent) when it is over the payload cap."""
    limit = hub.settings.max_payload_bytes
    if isinstance(payload, UserBroadcast):
        if len(payload.payload) + len(payload.event.encode()) > limit:
            return False
        # The push's metadata is not forwarded (Supabase does not use it yet).
        ub = UserBroadcast(payload.event, payload.payload, payload.is_json)
        hub.broadcast_user(topic, ub, exclude=exclude)
        return True
    body = dumps(payload)
    if len(body.encode()) > limit:
        return False
    hub.broadcast_json(topic, body, exclude=exclude)
    return True


async def _may_write(channel: Channel) -> bool:
    """Private channels check write access once, lazily, and keep the answer."""
    if not channel.private:
        return True
    policies = channel.policies
    if policies.broadcast_write is None:
        try:
            await write_policies(channel.socket.context.pool, channel.auth_context(), policies)
        except AuthorizationError as exc:
            log.warning("%s on broadcast authorization of %s", exc.code, channel.topic)
            return False
    return policies.broadcast_write is True


async def handle_broadcast(channel: Channel, payload: Any, ref: Ref) -> None:
    """The client's `broadcast` push. Without write access it is dropped silently (no ack)."""
    if not isinstance(payload, dict | UserBroadcast):
        log.warning("MalformedWebSocketMessage: broadcast on %s is not a map", channel.topic)
        return
    allowed = await _may_write(channel)
    if channel.closed or not allowed:
        return
    channel.socket.hub.limits.events.add()  # a sent message counts, as Supabase's handler
    exclude = None if channel.self_broadcast else channel
    sent = publish(channel.socket.hub, channel.key, payload, exclude=exclude)
    if channel.ack_broadcast:
        if sent:
            channel.reply(ref, "ok", {})
        else:
            # Supabase replies {:error, :payload_size_exceeded}: the atom is the whole response.
            channel.reply(ref, "error", PAYLOAD_SIZE_EXCEEDED)
