"""What each client frame does, for one socket. Shared by /ws and /ws/{receiver_id}.

Frames of one socket are handled one at a time, in order, so a client's messages are
stored in the order it sent them; other sockets are never blocked by this one.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from gateway.api.limits import Kind, Rate, RateLimited, SocketBudget, TokenBucket, UserRates
from gateway.api.models import wire_message
from gateway.api.protocol import (
    PONG,
    AuthFrame,
    ChatFrame,
    InboundFrame,
    PingFrame,
    ReadFrame,
    ResumeFrame,
    TypingFrame,
    ack_frame,
)
from gateway.delivery.client import Connection, OwnMessage
from gateway.errors import ErrorCode, GatewayError
from gateway.services import Services

log = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 1.0  # at most one typing event per peer per second per socket
TYPING_PEERS_KEPT = 32  # past this many peers, forget those typed to over a second ago


def validate_text(text: str, max_chars: int) -> None:
    if not text.strip():
        raise GatewayError(ErrorCode.MESSAGE_EMPTY)
    if len(text) > max_chars:
        raise GatewayError(
            ErrorCode.MESSAGE_TOO_LONG, f"message_text is longer than {max_chars} characters"
        )


def parse_peer(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise GatewayError(ErrorCode.INVALID_PEER, "the peer must be a user id (UUID)") from None


@dataclass(slots=True)
class Actions:
    services: Services
    conn: Connection
    rates: UserRates
    budget: SocketBudget
    _chat_of_peer: dict[str, str] = field(default_factory=dict)
    _typing_at: dict[str, float] = field(default_factory=dict)
    _refusals: TokenBucket | None = None  # made on the first refusal

    async def handle(self, frame: InboundFrame) -> None:
        if isinstance(frame, ChatFrame):
            await self.chat(frame)
        elif isinstance(frame, PingFrame):
            if flood := self.budget.flood("ping"):
                raise flood
            self.conn.send(PONG)
        elif isinstance(frame, TypingFrame):
            await self.typing(frame)
        elif isinstance(frame, ReadFrame):
            await self.read(frame)
        elif isinstance(frame, ResumeFrame):
            await self.resume(frame)
        elif isinstance(frame, AuthFrame):
            await self.refresh(frame)

    def _peer(self, to: uuid.UUID | None) -> str:
        if self.conn.peer_id is not None:
            if to is not None and str(to) != self.conn.peer_id:
                raise GatewayError(ErrorCode.INVALID_PEER, "this socket is for another peer")
            return self.conn.peer_id
        if to is None:
            raise GatewayError(ErrorCode.PEER_REQUIRED)
        return str(to)

    def _limit(self, kind: Kind) -> None:
        """Count a `kind` action against the user's bucket; refused, it also counts against
        this socket's patience: a socket refused `ws_flood_refusals` times (one forgiven
        per second) is closed, since a client that ignores `rate_limited` only burns CPU."""
        try:
            self.rates.check(kind, self.conn.user_id)
        except RateLimited:
            patience = Rate(1.0, self.services.config.limits.ws_flood_refusals)
            now = time.monotonic()
            if self._refusals is None:
                self._refusals = TokenBucket(float(patience.burst), now)
            if self._refusals.take(patience, now):
                raise GatewayError(ErrorCode.RATE_LIMIT_FLOOD) from None
            raise

    async def lookup_chat_id(self, peer: str) -> str:
        """The chat with `peer`, asking the Data API if this socket does not know it (a
        socket's start: the user's chats may not be known yet)."""
        chat_id = self._chat_of_peer.get(peer)
        if chat_id is None:
            chat_id = await self.services.store.direct_chat_id(
                self.conn.identity.token, self.conn.user_id, peer
            )
            if chat_id is None:
                raise GatewayError(ErrorCode.CHAT_NOT_FOUND, "no chat with this user yet")
            self._chat_of_peer[peer] = chat_id
        return chat_id

    def chat_id_for(self, peer: str) -> str:
        """The chat with `peer` among the chats the gateway knows the user is in: their
        chat list when they came, and every chat a message has reached them in since.
        Frames naming anyone else are refused without a Data API call, so a client
        cannot spend the database's time, or this socket's memory, on made-up peers."""
        chat_id = self._chat_of_peer.get(peer)
        if chat_id is None:
            state = self.services.router.users.get(self.conn.user_id)
            known = state.chat_peer if state is not None else {}
            chat_id = next((chat for chat, other in known.items() if other == peer), None)
            if chat_id is None:
                raise GatewayError(ErrorCode.CHAT_NOT_FOUND, "no chat with this user yet")
            self._chat_of_peer[peer] = chat_id
        return chat_id

    def _own_chat(self, chat_id: str) -> str:
        state = self.services.router.users.get(self.conn.user_id)
        if state is None or state.seen is None or chat_id not in state.seen:
            raise GatewayError(ErrorCode.CHAT_NOT_FOUND)
        return chat_id

    async def chat(self, frame: ChatFrame) -> None:
        validate_text(frame.message, self.services.config.limits.message_max_chars)
        self._limit("send")
        await self.conn.send_own(self._store(frame, self._peer(frame.to)))
        self.services.metrics.message_in()

    async def _store(self, frame: ChatFrame, peer: str) -> OwnMessage:
        conn = self.conn
        row, _created = await self.services.store.send_direct(
            conn.identity.token, peer, frame.message, frame.client_msg_id
        )
        message = wire_message(row)
        chat_id = self._chat_of_peer[peer] = str(message["chat_id"])
        self.services.router.chatting(conn.user_id, chat_id, peer)
        return chat_id, int(message["seq"]), ack_frame(frame.client_msg_id, message)

    async def typing(self, frame: TypingFrame) -> None:
        peer = self._peer(frame.to)
        now = time.monotonic()
        if now - self._typing_at.get(peer, float("-inf")) < TYPING_INTERVAL_SECONDS:
            return
        self._limit("typing")  # only events that would be forwarded count
        chat_id = self.chat_id_for(peer)
        if self.services.visibility.hidden(self.conn.user_id, peer):
            return  # a block stands between them: dropped, as the peer's presence is
        if len(self._typing_at) >= TYPING_PEERS_KEPT:  # only the last second matters
            self._typing_at = {
                p: t for p, t in self._typing_at.items() if now - t < TYPING_INTERVAL_SECONDS
            }
        self._typing_at[peer] = now
        await self.services.feed.typing(chat_id, self.conn.user_id, [self.conn.user_id, peer])

    async def read(self, frame: ReadFrame) -> None:
        self._limit("read")
        chat_id = self.chat_id_for(self._peer(frame.to))
        await self.services.store.mark_read(
            self.conn.identity.token, chat_id, self.conn.user_id, frame.seq
        )

    async def resume(self, frame: ResumeFrame) -> None:
        self._limit("resume")
        if frame.chat_id is not None:
            chat_id = self._own_chat(str(frame.chat_id))
        else:
            chat_id = self.chat_id_for(self._peer(frame.peer_id))
        self.conn.resume(chat_id, frame.since_seq)
        await self.services.recovery.catch_up(self.conn, chat_id, frame.since_seq)

    async def refresh(self, frame: AuthFrame) -> None:
        identity = await self.services.verifier.verify(frame.token)
        if identity.user_id != self.conn.user_id:
            raise GatewayError(ErrorCode.TOKEN_SUBJECT_MISMATCH)
        self.conn.identity = identity
