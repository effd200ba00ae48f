"""Presence for local users: who of the people each local user chats with is online.

Each local user watches their peers (learned from their chat list and from every message
routed to them). A peer's change, anywhere, becomes a `presence` frame on the watching
user's sockets that cover that peer; a newly learned peer who is online is announced at
once. Nothing passes between two users a block stands between (`Hidden`): a block made
or lifted is told to each as the other going offline or coming back.
"""

from __future__ import annotations

from typing import Protocol

from gateway.api.protocol import encode, presence_frame
from gateway.delivery.client import Connection
from gateway.delivery.users import LocalUsers, UserState

__all__ = ["Hidden", "OnlineView", "PeerWatch"]


class OnlineView(Protocol):
    def is_online(self, user_id: str) -> bool: ...


class Hidden(Protocol):
    def hidden(self, user: str, other: str) -> bool: ...


class PeerWatch:
    def __init__(self, users: LocalUsers, online: OnlineView, hidden: Hidden) -> None:
        self._users = users
        self._online = online
        self._hidden = hidden
        self._watchers: dict[str, set[str]] = {}  # peer → local users who chat with them

    def watch(self, user: str, state: UserState, peers: list[str]) -> None:
        """`user` chats with `peers` (new to them): follow their presence, and say now
        which of them are online."""
        for peer in peers:
            self._watchers.setdefault(peer, set()).add(user)
            if self._online.is_online(peer) and not self._hidden.hidden(user, peer):
                send_to_covering(state, peer, encode(presence_frame(peer, True)))

    def announce(self, conn: Connection, peer: str) -> None:
        """Tell one new socket that a peer of its user is online, if they are."""
        if (
            self._online.is_online(peer)
            and conn.covers(None, peer)
            and not self._hidden.hidden(conn.user_id, peer)
        ):
            conn.send(presence_frame(peer, True))

    def forget(self, user: str, state: UserState) -> None:
        """`user` left this gateway."""
        for peer in state.peers:
            watchers = self._watchers.get(peer)
            if watchers is not None:
                watchers.discard(user)
                if not watchers:
                    del self._watchers[peer]

    def on_presence(self, user: str, online: bool) -> None:
        """A user came online or went offline anywhere: tell local users who chat with them."""
        watchers = self._watchers.get(user)
        if not watchers:
            return
        frame = encode(presence_frame(user, online))
        for local in watchers:
            state = self._users.get(local)
            if state is not None and local != user and not self._hidden.hidden(local, user):
                send_to_covering(state, user, frame)

    def on_visibility(self, a: str, b: str, visible: bool) -> None:
        """A block between a and b was made (not `visible`) or lifted: each local one who
        chats with the other, if the other is online, sees them go offline or come back."""
        for user, other in ((a, b), (b, a)):
            state = self._users.get(user)
            if state is not None and other in state.peers and self._online.is_online(other):
                send_to_covering(state, other, encode(presence_frame(other, visible)))


def send_to_covering(state: UserState, peer: str, frame: str) -> None:
    """Send to the user's sockets that cover events from `peer`."""
    for conn in state.connections:
        if conn.covers(None, peer):
            conn.enqueue(frame)
