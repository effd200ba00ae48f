"""One joined channel: its state, the frames it pushes, its token-expiry check and its end.

A channel lives on one socket under one topic. It ends by leave, duplicate join, a
system error (expired token, presence rate limit, ...) or the socket's death; ending
unsubscribes it, removes its presence and (except on socket death) pushes `phx_close`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.embedded.keys import Claims, TokenError
from gateway.embedded.realtime import tokens
from gateway.embedded.realtime.authorization import AuthorizationContext, Policies
from gateway.embedded.realtime.limits import TOO_MANY_MESSAGES
from gateway.embedded.realtime.serializer import Ref, dumps

if TYPE_CHECKING:
    from gateway.embedded.realtime.connection import Connection

log = logging.getLogger(__name__)

PubsubKey = tuple[bool, str]
"""(private, sub-topic): public and private channels of one name never see each other."""

_ID_RANGE = 2**27 - 1  # :erlang.phash2/1's range; ids are kept non-zero (realtime-py skips 0)


def binding_id(params: Mapping[str, Any]) -> int:
    """A stable id per binding: identical bindings get identical ids, on every server run."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _ID_RANGE + 1


@dataclass(frozen=True, slots=True)
class PostgresBinding:
    """A postgres_changes binding as the client sent it, plus the id the server gave it."""

    id: int
    params: Mapping[str, Any]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PostgresBinding:
        return cls(binding_id(params), params)

    def _text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if isinstance(value, str) else None

    @property
    def event(self) -> str | None:
        return self._text("event")

    @property
    def schema(self) -> str | None:
        return self._text("schema")

    @property
    def table(self) -> str | None:
        return self._text("table")

    @property
    def filter(self) -> str | None:
        return self._text("filter")

    @property
    def select(self) -> Any:
        return self.params.get("select")

    def reply_entry(self) -> dict[str, Any]:
        return {**self.params, "id": self.id}


class Channel:
    """A joined topic. Hashes by identity: the hub keeps channels in dicts."""

    def __init__(
        self,
        socket: Connection,
        topic: str,
        join_ref: Ref,
        *,
        private: bool,
        claims: Claims,
        access_token: str,
        policies: Policies,
        presence_key: str,
        presence_enabled: bool,
        self_broadcast: bool,
        ack_broadcast: bool,
        postgres_changes: list[PostgresBinding],
        legacy_api: bool,
    ) -> None:
        self.socket = socket
        self.topic = topic
        self.sub_topic = topic.removeprefix("realtime:")
        self.join_ref = join_ref
        self.private = private
        self.key: PubsubKey = (private, self.sub_topic)
        self.claims = claims
        self.access_token = access_token
        self.policies = policies
        self.presence_key = presence_key
        self.presence_enabled = presence_enabled
        self.self_broadcast = self_broadcast
        self.ack_broadcast = ack_broadcast
        self.postgres_changes = postgres_changes
        self.legacy_api = legacy_api
        self.closed = False
        self.replayed_ids: frozenset[str] = frozenset()  # not delivered again live
        self.presence_payload: dict[str, Any] | None = None
        self.presence_calls = 0
        self.presence_window_ends: float | None = None
        self._token_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.topic} join_ref={self.join_ref!r} private={self.private}>"

    def auth_context(self) -> AuthorizationContext:
        return AuthorizationContext(self.sub_topic, self.claims, self.socket.x_headers)

    # Frames ----------------------------------------------------------------------------

    def push(self, event: str, payload: Any) -> None:
        """A channel push, stamped with this join's join_ref (V2 clients check it)."""
        self._push(self.join_ref, event, payload)

    def push_fastlane(self, event: str, payload: Any) -> None:
        """A push with a null join_ref, as fan-out frames carry (postgres_changes). It counts
        toward the tenant's messages/s, which shuts the channel down while tripped."""
        if self.closed:
            return
        self._push(None, event, payload)
        if self.socket.hub.limits.delivered(1):
            self.shutdown(TOO_MANY_MESSAGES)

    def _push(self, join_ref: Ref, event: str, payload: Any) -> None:
        if not self.closed:
            serializer = self.socket.serializer
            self.socket.send(serializer.message(join_ref, None, self.topic, event, dumps(payload)))

    def reply(self, ref: Ref, status: str, response: Any) -> None:
        self.socket.reply(self.join_ref, ref, self.topic, status, response)

    def push_system(self, extension: str, status: str, message: str) -> None:
        payload = {"extension": extension, "status": status, "message": message}
        self.push("system", {**payload, "channel": self.sub_topic})

    # Token lifecycle -------------------------------------------------------------------

    def schedule_token_check(self) -> None:
        """Re-check the token at min(5 min, time to exp), as Supabase's confirm_token does."""
        if self._token_timer is not None:
            self._token_timer.cancel()
        recheck = self.socket.hub.settings.token_recheck_seconds
        delay = max(min(recheck, tokens.seconds_to_expiry(self.claims)), 0.0)
        self._token_timer = asyncio.get_running_loop().call_later(delay, self._check_token)

    def _check_token(self) -> None:
        self._token_timer = None
        if self.closed:
            return
        try:
            self.claims = tokens.verify(self.socket.context.keys, self.access_token)
        except TokenError as err:
            log.info("channel %s closed: token no longer valid (%s)", self.topic, err.reason)
            self.shutdown(tokens.shutdown_message(err, self.access_token))
            return
        self.schedule_token_check()

    # Ending ----------------------------------------------------------------------------

    def shutdown(self, message: str) -> None:
        """Supabase's shutdown_response: a system error, then the channel stops (phx_close)."""
        self.push_system("system", "error", message)
        self.close()

    def close(self, *, notify_client: bool = True, event: str = "phx_close") -> None:
        """End the channel; `notify_client` pushes `event` (phx_close, or phx_error on a crash)."""
        if self.closed:
            return
        if notify_client:
            payload = "{}" if event == "phx_close" else '{"reason":"channel_crash"}'
            frame = self.socket.serializer.message(
                self.join_ref, self.join_ref, self.topic, event, payload
            )
            self.socket.send(frame)
        self.closed = True
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None
        if self.socket.channels.get(self.topic) is self:
            del self.socket.channels[self.topic]
        hub = self.socket.hub
        hub.unsubscribe(self)
        hub.untrack_presence(self)
