"""Routing: every event the gateway's fixed Realtime topics carry goes to the local
sockets of the chat's members, and a socket comes up with its start point fixed.

The database publishes each message once, with its member ids; the router looks each
member up among the local users and offers the message to their sockets that cover the
chat. A message is encoded once, whatever the number of receiving sockets. Events for a
user whose start point is still being read wait in that user's `early` list.

`ready` means the live stream is on: sent once per socket, as soon as both the socket's
start point is fixed and the gateway's topics are subscribed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Protocol, cast

from gateway.api.models import wire_message
from gateway.api.protocol import READY, encode, message_frame, read_frame, typing_frame
from gateway.delivery.client import Connection
from gateway.delivery.cursor import Outgoing
from gateway.delivery.rows import MessageRow, ReadEvent, TypingEvent
from gateway.delivery.users import LocalUsers, UserState
from gateway.delivery.watchers import PeerWatch, send_to_covering
from gateway.metrics import Metrics

__all__ = ["PresenceTracker", "Router"]

log = logging.getLogger(__name__)


class PresenceTracker(Protocol):
    def local_online(self, user_id: str) -> None: ...
    def local_offline(self, user_id: str) -> None: ...


class Router:
    def __init__(
        self, users: LocalUsers, watch: PeerWatch, presence: PresenceTracker, metrics: Metrics
    ) -> None:
        self.users = users
        self._watch = watch
        self._presence = presence
        self._metrics = metrics
        self._live = False  # the gateway's topics are subscribed
        self._not_ready: set[Connection] = set()  # attached while the topics were down

    # Sockets -------------------------------------------------------------------------------

    async def attach(self, conn: Connection) -> None:
        """Fix the socket's start point (raises if it cannot be read: the socket must not
        be answered as connected). Frames for it queue until it is opened."""
        state, chats = await self.users.add(conn)
        user = conn.user_id
        if chats is not None:  # the user's first socket
            if self.users.get(user) is not state:
                return  # every socket left while the start point was read
            self._watch.watch(user, state, sorted(state.peers))
            self._presence.local_online(user)
            early, state.early = state.early, []
            for event, payload in early:  # the cursors drop what the start point covers
                self._route_to(user, state, event, payload)
        else:
            for peer in sorted(state.peers):
                self._watch.announce(conn, peer)
        if self._live:
            conn.send(READY)
        else:
            self._not_ready.add(conn)

    def detach(self, conn: Connection) -> None:
        self._not_ready.discard(conn)
        state = self.users.remove(conn)
        if state is not None:
            self._watch.forget(conn.user_id, state)
            self._presence.local_offline(conn.user_id)

    def chatting(self, user: str, chat_id: str, peer: str) -> None:
        """`user` sent a message to `peer` in `chat_id` (their chat list may predate it)."""
        state = self.users.get(user)
        if state is not None:
            self._learn(user, state, chat_id, [peer])

    # The upstream ----------------------------------------------------------------------------

    def on_live(self) -> None:
        """The gateway's topics are all subscribed: the live stream is on."""
        self._live = True
        waiting, self._not_ready = self._not_ready, set()
        for conn in waiting:
            conn.send(READY)

    def on_down(self) -> None:
        self._live = False

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """One broadcast from a gateway topic (runs on the upstream's consumer task)."""
        members = payload.get("member_ids")
        if not isinstance(members, list):
            log.warning("event without member ids event=%s", event)
            return
        if event == "message":
            self.route_message(cast(MessageRow, payload))
            return
        for member in members:
            state = self.users.get(member)
            if state is not None:
                self._route_to(member, state, event, payload)

    def route_message(self, row: MessageRow) -> None:
        """A stored message, live or recovered: to every local socket of its members."""
        item: Outgoing | None = None
        delivered = 0
        for member in row.get("member_ids") or ():
            state = self.users.get(member)
            if state is None:
                continue
            if state.seen is None:
                state.early.append(("message", row))
                continue
            if item is None:  # encode once for every socket
                item = Outgoing(int(row["seq"]), encode(message_frame(wire_message(row))))
            delivered += self._offer(member, state, row, item)
        if delivered:
            self._metrics.delivered(delivered, _age(row.get("created_at")))

    def _route_to(self, user: str, state: UserState, event: str, payload: Any) -> None:
        if state.seen is None:
            state.early.append((event, payload))
        elif event == "message":
            row = cast(MessageRow, payload)
            item = Outgoing(int(row["seq"]), encode(message_frame(wire_message(row))))
            self._offer(user, state, row, item)
        elif event == "read":
            read = cast(ReadEvent, payload)
            frame = encode(read_frame(read["chat_id"], read["user_id"], int(read["seq"])))
            send_to_covering(state, read["user_id"], frame)
        elif event == "typing":
            typing = cast(TypingEvent, payload)
            if typing["user_id"] != user:
                frame = encode(typing_frame(typing["chat_id"], typing["user_id"]))
                send_to_covering(state, typing["user_id"], frame)

    def _offer(self, user: str, state: UserState, row: MessageRow, item: Outgoing) -> int:
        chat_id = row["chat_id"]
        state.advance(chat_id, item.seq)
        members = row.get("member_ids") or []
        self._learn(user, state, chat_id, [m for m in members if m != user])
        delivered = 0
        for conn in state.connections:
            if conn.covers(members):
                conn.offer(chat_id, item, row["sender_id"])
                delivered += 1
        return delivered

    def _learn(self, user: str, state: UserState, chat_id: str, others: list[str]) -> None:
        new = state.learn(chat_id, others)
        if new:
            self._watch.watch(user, state, new)


def _age(created_at: object) -> float | None:
    """Seconds since a row's created_at (commit time), for the delivery-latency metric."""
    if not isinstance(created_at, str):
        return None
    try:
        return time.time() - datetime.fromisoformat(created_at).timestamp()
    except ValueError:
        return None
