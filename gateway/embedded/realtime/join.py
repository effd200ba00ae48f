"""Joining a channel (Supabase's join pipeline, in its order) and the `access_token` refresh.

Join order (§2.2): topic name, tenant quotas (users, joins/s), channel limit, token
confirmation, private read authorization, replay check; then subscribe, reply
`{"postgres_changes": [...]}`, the replication-ready notice when asked for (`replication`),
push `presence_state` when presence is enabled (and within
the presence rate), and tell CDC observers. A failed join is answered after the
channel-error backoff, as Supabase does; one over the joins rate then closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode

from gateway.embedded.keys import Claims, TokenError
from gateway.embedded.realtime import replay, replication, tokens
from gateway.embedded.realtime.authorization import AuthorizationError, Policies, read_policies
from gateway.embedded.realtime.channel import Channel, PostgresBinding
from gateway.embedded.realtime.limits import JOINS_CODE, TOO_MANY_PRESENCE
from gateway.embedded.realtime.serializer import Inbound

if TYPE_CHECKING:
    from gateway.embedded.realtime.connection import Connection

log = logging.getLogger(__name__)

NO_LONGER_PERMITTED = "You no longer have permission to read from this Channel topic"
UNKNOWN_ERROR = "Unknown Error on Channel"
DB_UNAVAILABLE = "Realtime was unable to connect to the project database"


class JoinError(Exception):
    """A refused join: Supabase's error code and message; the reply's reason joins them.
    `disconnect`: the socket is closed once the reply is sent (too many joins)."""

    def __init__(self, code: str | None, message: str, *, disconnect: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.disconnect = disconnect

    @property
    def reason(self) -> str:
        return self.message if self.code is None else f"{self.code}: {self.message}"


def _flag(value: Any) -> bool:
    """Supabase's FlexibleBoolean; anything invalid falls back to the default, false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    return False


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class JoinParams:
    """The join payload, validated leniently: invalid fields become their defaults."""

    private: bool
    presence_enabled: bool
    presence_key: str
    self_broadcast: bool
    ack_broadcast: bool
    replication_ready: bool
    replay_requested: bool
    replay: Mapping[str, Any] | None
    postgres_changes: list[PostgresBinding]
    legacy_api: bool
    access_token: Any
    user_token: Any

    @classmethod
    def parse(cls, payload: Any, sub_topic: str) -> JoinParams:
        params: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
        config = _section(params, "config")
        broadcast = _section(config, "broadcast")
        presence = _section(config, "presence")
        key = presence.get("key")
        legacy = "config" not in params
        return cls(
            private=_flag(config.get("private")),
            presence_enabled=_flag(presence.get("enabled")),
            presence_key=str(uuid.uuid1()) if key in (None, "") else str(key),
            self_broadcast=_flag(broadcast.get("self")),
            ack_broadcast=_flag(broadcast.get("ack")),
            replication_ready=_flag(broadcast.get("replication_ready")),
            replay_requested="replay" in broadcast,
            replay=broadcast["replay"] if isinstance(broadcast.get("replay"), dict) else None,
            postgres_changes=_bindings(config, sub_topic, legacy),
            legacy_api=legacy,
            access_token=params.get("access_token"),
            user_token=params.get("user_token"),
        )


def _bindings(config: Mapping[str, Any], sub_topic: str, legacy: bool) -> list[PostgresBinding]:
    if legacy:  # no `config`: the topic itself names schema:table:filter
        parts = dict(zip(("schema", "table", "filter"), sub_topic.split(":", 2), strict=False))
        return [PostgresBinding.from_params(parts)]
    raw = config.get("postgres_changes")
    if not isinstance(raw, list):
        return []
    entries = [entry for entry in raw if entry is not None]
    if not all(isinstance(entry, dict) for entry in entries):
        raise JoinError(None, UNKNOWN_ERROR)
    return [PostgresBinding.from_params(entry) for entry in entries]


def _channel_token(conn: Connection, params: JoinParams) -> str:
    """Supabase's assign_access_token: an `sb_` key or no token means the socket's API-key JWT;
    otherwise `user_token` (legacy) wins over `access_token`."""
    given = params.access_token if params.access_token not in (None, False) else params.user_token
    if isinstance(given, str) and given.startswith("sb_"):
        return conn.tenant_token
    for candidate in (params.user_token, params.access_token):
        if isinstance(candidate, str):
            return candidate
    return conn.tenant_token


def _confirm_token(conn: Connection, token: str) -> Claims:
    try:
        return tokens.verify(conn.context.keys, token)
    except TokenError as err:
        raise JoinError(*tokens.join_error(err, token)) from None


def _unauthorized(sub_topic: str) -> JoinError:
    message = f"You do not have permissions to read from this Channel topic: {sub_topic}"
    return JoinError("Unauthorized", message)


async def _authorize_read(conn: Connection, channel: Channel, policies: Policies) -> None:
    """Read check of a private channel into `policies`; raises JoinError with Supabase's reason."""
    try:
        await read_policies(
            conn.context.pool, channel.auth_context(), policies, presence=channel.presence_enabled
        )
    except AuthorizationError as err:
        if err.code == "RlsPolicyError":  # a failing policy denies, as on Supabase
            raise _unauthorized(channel.sub_topic) from None
        raise JoinError("UnableToConnectToProject", DB_UNAVAILABLE) from None
    if not (policies.broadcast_read or policies.presence_read):
        raise _unauthorized(channel.sub_topic)


async def _build(
    conn: Connection, msg: Inbound
) -> tuple[Channel, JoinParams, list[replay.Replayed]]:
    sub_topic = msg.topic.removeprefix("realtime:")
    if not sub_topic:
        raise JoinError("TopicNameRequired", "You must provide a topic name")
    params = JoinParams.parse(msg.payload, sub_topic)
    refusal = conn.hub.limits.join_refusal(conn)
    if refusal is not None:
        code, message = refusal
        raise JoinError(code, message, disconnect=code == JOINS_CODE)
    if len(conn.channels) >= conn.hub.settings.max_channels_per_client:
        raise JoinError("ChannelRateLimitReached", "Too many channels")
    token = _channel_token(conn, params)
    claims = _confirm_token(conn, token)
    channel = Channel(
        conn,
        msg.topic,
        msg.join_ref,
        private=params.private,
        claims=claims,
        access_token=token,
        policies=Policies(),
        presence_key=params.presence_key,
        presence_enabled=params.presence_enabled,
        self_broadcast=params.self_broadcast,
        ack_broadcast=params.ack_broadcast,
        postgres_changes=params.postgres_changes,
        legacy_api=params.legacy_api,
    )
    if params.private:
        await _authorize_read(conn, channel, channel.policies)
    replayed: list[replay.Replayed] = []
    if params.replay_requested:
        if params.private and channel.policies.broadcast_read is False:
            raise _unauthorized(sub_topic)
        if not params.private:
            raise JoinError("UnableToReplayMessages", "Replay is not allowed for public channels")
        if params.replay is not None:
            try:
                replayed = await replay.fetch(conn.context.pool, sub_topic, params.replay)
            except replay.ReplayError as err:
                raise JoinError("UnableToReplayMessages", str(err)) from None
            channel.replayed_ids = frozenset(message.id for message in replayed)
    return channel, params, replayed


async def join(conn: Connection, msg: Inbound) -> None:
    """Handle `phx_join` on a `realtime:` topic (a duplicate join closes the old one first)."""
    previous = conn.channels.get(msg.topic)
    if previous is not None:
        previous.close()
    try:
        channel, params, replayed = await _build(conn, msg)
    except Exception as exc:
        if isinstance(exc, JoinError):
            log.info("join of %s refused: %s", msg.topic, exc.code)
            error = exc
        else:
            log.exception("UnknownErrorOnChannel joining %s", msg.topic)
            error = JoinError(None, UNKNOWN_ERROR)
        await asyncio.sleep(conn.hub.settings.channel_error_backoff_seconds)
        conn.reply(msg.join_ref, msg.ref, msg.topic, "error", {"reason": error.reason})
        if error.disconnect:
            await conn.close_when_sent(WSCloseCode.OK)
        return
    conn.channels[msg.topic] = channel
    hub = conn.hub
    hub.limits.joined(conn)
    hub.subscribe(channel)
    entries = [binding.reply_entry() for binding in channel.postgres_changes]
    channel.reply(msg.ref, "ok", {"postgres_changes": entries})
    channel.schedule_token_check()
    replay.push(channel, replayed)
    if params.replication_ready:  # before presence_state, as Supabase queues it first
        replication.notify_when_ready(channel)
    if channel.presence_enabled and (not channel.private or channel.policies.presence_read):
        if not hub.limits.presence_allowed():
            channel.shutdown(TOO_MANY_PRESENCE)
            return
        channel.push("presence_state", hub.presence.state(channel.key))
    hub.announce_joined(channel)


def _read_revoked(before: Policies, after: Policies) -> bool:
    return (before.broadcast_read is True and after.broadcast_read is False) or (
        before.presence_read is True and after.presence_read is False
    )


async def refresh_token(channel: Channel, payload: Any) -> None:
    """`access_token` from the client: no reply on success; any failure closes the channel."""
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or token.startswith("sb_") or token == channel.access_token:
        return
    conn = channel.socket
    channel.access_token = token
    try:
        channel.claims = tokens.verify(conn.context.keys, token)
    except TokenError as err:
        channel.shutdown(tokens.shutdown_message(err, token))
        return
    channel.schedule_token_check()
    if channel.private:
        # Evaluated aside and swapped in, so deliveries keep flowing during the check.
        policies = Policies()
        try:
            await _authorize_read(conn, channel, policies)
        except JoinError as err:
            channel.shutdown(err.message)
            return
        if channel.closed:
            return
        previous, channel.policies = channel.policies, policies
        if _read_revoked(previous, policies):
            channel.shutdown(f"{NO_LONGER_PERMITTED}: {channel.sub_topic}")
            return
    conn.hub.announce_token_changed(channel)
