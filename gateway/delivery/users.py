"""Who is connected to this gateway: each local user's sockets, where each of their chats
stands for them, and their peers. Start points are fixed here.

A user's first socket registers the user, then reads where each of their chats stands
(the socket's start point; `start_points` batches these reads across users). Events that
arrive for the user meanwhile wait in `early` and go through the cursors once the start
point is known (they drop what it covers). Later sockets of the user start where the
user's stream stands, without a read.
Registration comes before the read, so every message committed after the read began is
either routed to the user or recovered by seq: nothing committed after a socket's start
point is missed.

All state is touched only on the event loop; awaits never hold partial updates.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.delivery.client import Connection
from gateway.delivery.rows import ChatStart

__all__ = ["LocalUsers", "StartPoints", "UserState"]

log = logging.getLogger(__name__)


class StartPoints(Protocol):
    """Where each chat of a user stands (raises GatewayError if it cannot be read)."""

    async def read(self, user_id: str) -> list[ChatStart]: ...


@dataclass(slots=True)
class UserState:
    # A user's sockets: a handful at most, so a list (56 bytes, a set is 216; one per user).
    connections: list[Connection] = field(default_factory=list)
    # chat → the highest seq this user's stream has reached (None: start point being read).
    seen: dict[str, int] | None = None
    chat_peer: dict[str, str] = field(default_factory=dict)  # direct chat → the other member
    peers: set[str] = field(default_factory=set)
    # Events that arrived while the start point was read, in arrival order.
    early: list[tuple[str, Any]] = field(default_factory=list)
    # Done once the start point is read (a Future: an Event costs ~0.8 KB per user).
    started: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def advance(self, chat_id: str, seq: int) -> None:
        if self.seen is not None and seq > self.seen.get(chat_id, 0):
            self.seen[chat_id] = seq

    def learn(self, chat_id: str, others: list[str]) -> list[str]:
        """Remember a chat's other members; returns the peers not known before."""
        if others:
            self.chat_peer.setdefault(chat_id, others[0])
        new = [peer for peer in others if peer not in self.peers]
        self.peers.update(new)
        return new


class LocalUsers:
    def __init__(self, start_points: StartPoints) -> None:
        self._start_points = start_points
        self._users: dict[str, UserState] = {}

    def get(self, user_id: str) -> UserState | None:
        return self._users.get(user_id)

    async def add(self, conn: Connection) -> tuple[UserState, list[ChatStart] | None]:
        """Register a socket and fix its start point. Returns the user's state and, for the
        user's first socket, the chats that were read (None for later sockets).
        Raises (GatewayError from the read) if the start point cannot be read: the socket
        must then not be answered as connected."""
        user = conn.user_id
        state = self._users.get(user)
        if state is not None:
            state.connections.append(conn)
            try:
                await asyncio.shield(state.started)
            except BaseException:
                self.remove(conn)
                raise
            if not conn.has_start and state.seen is not None:
                conn.start_from(dict(state.seen))
            return state, None
        state = self._users[user] = UserState([conn])
        try:
            chats = await self._start_points.read(user)
        except BaseException as exc:
            if isinstance(exc, Exception):
                state.started.set_exception(exc)
                state.started.exception()  # retrieved: waiting sockets re-raise it themselves
            else:
                state.started.cancel()
            if self._users.get(user) is state:
                del self._users[user]
            raise
        start = {chat.chat_id: chat.last_seq for chat in chats}
        state.seen = dict(start)  # moves on with every message routed to the user
        for chat in chats:
            if chat.peer_id is not None:
                state.learn(chat.chat_id, [chat.peer_id])
        for other in state.connections:
            other.start_from(start)  # never changed: shared by the sockets of this read
        state.started.set_result(None)
        return state, chats

    def remove(self, conn: Connection) -> UserState | None:
        """Forget a socket; returns the user's state if that was their last socket."""
        state = self._users.get(conn.user_id)
        if state is None:
            return None
        if conn in state.connections:
            state.connections.remove(conn)
        if state.connections:
            return None
        del self._users[conn.user_id]
        return state
