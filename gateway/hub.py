"""Who is connected here, and routing of Realtime events to their sockets.

A user's first socket subscribes the user's private topic upstream, then reads their chat
list (where each chat stands: the socket's start point; who their peers are) and marks
them online: everything after that point arrives live, so one read brings the user up.
When the join quota has no room (joins are rate-limited by Supabase), the read comes
first, the topic is subscribed in the background, and what was committed in between is
read from the database once it is live. Their last socket undoes it. Events from Realtime are
routed to the sockets that cover the chat; each message is encoded once per event, not
once per socket. When a socket's cursor reports a gap, or the upstream subscription was
interrupted, the missing messages are read from the database by seq — Realtime is fast,
the database is the truth.

All state is touched only on the event loop; awaits never hold partial updates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from gateway.connection import Connection
from gateway.cursor import Outgoing
from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.models import wire_message
from gateway.protocol import READY, encode, message_frame, presence_frame, read_frame, typing_frame
from gateway.store import Store

log = logging.getLogger(__name__)

GAP_GRACE_SECONDS = 0.5  # how long a hole may wait for Realtime before we read the database
ATTACH_TIMEOUT_SECONDS = 10.0
FIRST_JOIN_SECONDS = 2.0  # how long a new user's socket waits for a join before reading first
RESUBSCRIBE_PAUSE_SECONDS = 1.0  # between attempts to bring a user's stream up
PAGE = 200

_T = TypeVar("_T")


class Upstream(Protocol):
    def joins_at_once(self) -> bool: ...
    async def subscribe(self, user_id: str) -> None: ...
    async def unsubscribe(self, user_id: str) -> None: ...


class PresenceTracker(Protocol):
    def local_online(self, user_id: str) -> None: ...
    def local_offline(self, user_id: str) -> None: ...
    def is_online(self, user_id: str) -> bool: ...


@dataclass(slots=True)
class UserState:
    # A user's sockets: a handful at most, so a list (56 bytes, a set is 216; one per user).
    connections: list[Connection] = field(default_factory=list)
    known_seq: dict[str, int] | None = None  # chat → highest seq seen (None: list unknown)
    peers: set[str] = field(default_factory=set)
    chat_peer: dict[str, str] = field(default_factory=dict)  # direct chat → the other member
    # Done once the start point is read (a Future: an Event costs ~0.8 KB per user).
    ready: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    live: bool = False  # subscribed upstream and caught up; sockets were told `ready`
    # Messages that arrived live before the start point was read (subscribed first).
    early: list[dict[str, Any]] | None = None

    def token(self) -> str | None:
        """The freshest token among the user's sockets, for reads on their behalf."""
        best = max(self.connections, key=lambda c: c.identity.expires_at, default=None)
        return best.identity.token if best else None


class Hub:
    def __init__(
        self, store: Store, upstream: Upstream, presence: PresenceTracker, metrics: Metrics
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.upstream = upstream
        self.presence = presence
        self.users: dict[str, UserState] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._filling: set[tuple[int, str]] = set()
        self._watchers: dict[str, set[str]] = {}  # peer → local users who chat with them

    # Attach / detach ----------------------------------------------------------------------

    async def attach(self, conn: Connection) -> None:
        """Register a socket. It receives every message committed after it came.

        Only the start point is read before the socket is answered: the user's upstream
        subscription (joins are rate-limited by Supabase) goes live in the background, and
        what was committed meanwhile is read from the database once it is live.
        """
        user = conn.user_id
        state = self.users.get(user)
        if state is None:
            state = self.users[user] = UserState()
            state.connections.append(conn)
            await self._first_socket(user, state, conn)
        else:
            state.connections.append(conn)
            if state.live:
                conn.send(READY)  # else _go_live tells every socket of the user
            try:
                await asyncio.wait_for(asyncio.shield(state.ready), ATTACH_TIMEOUT_SECONDS)
            except TimeoutError:
                log.warning("user setup slow; cursors start at first message user=%s", user)
            # The user's stream (live or catching up) carries everything after this point.
            conn.start_from(_copy(state.known_seq))
        for peer in state.peers:  # who of the people this user chats with is online now
            if self.presence.is_online(peer) and conn.covers(None, peer):
                conn.send(presence_frame(peer, True))

    async def _first_socket(self, user: str, state: UserState, conn: Connection) -> None:
        """Subscribe and then read where each chat stands: live at once. Without room for a
        join now, read first and go live in the background."""
        if self.upstream.joins_at_once() and await self._subscribe_first(user, state, conn):
            return
        chats = await self._snapshot(conn.identity.token)
        start = _seq_map(chats) if chats is not None else None  # never changed: shared
        state.known_seq = _copy(start)  # moves on with every message seen
        conn.start_from(start)
        state.ready.set_result(None)
        if self.users.get(user) is state:  # else every socket left while we read
            if chats is not None:
                self._remember_peers(user, state, chats)
            self.presence.local_online(user)
            self._spawn(self._go_live(user, state, start))

    async def _subscribe_first(self, user: str, state: UserState, conn: Connection) -> bool:
        """Subscribed before the read, every message after the start point arrives live:
        no second read, no catch-up. False (nothing changed) if the join or the read did
        not work out; the caller then reads first."""
        state.early = []
        try:
            await asyncio.wait_for(self.upstream.subscribe(user), FIRST_JOIN_SECONDS)
        except Exception:  # slow or failing: the background path keeps trying
            chats = None
        else:
            chats = await self._snapshot(conn.identity.token)
        early, state.early = state.early, None
        if chats is None:
            return False
        _pin_start(state, chats)
        state.ready.set_result(None)
        if self.users.get(user) is not state:
            return True  # every socket left while we read
        self._remember_peers(user, state, chats)
        self.presence.local_online(user)
        for row in early:  # the cursors drop what the start point already covers
            self._deliver_message(user, state, row)
        _tell_ready(state)
        return True

    async def _go_live(self, user: str, state: UserState, start: dict[str, int] | None) -> None:
        """Subscribe, read the chat list again, deliver what was committed between the
        start point and the subscription (each step retried until it works or the user is
        gone); then tell the user's sockets `ready`."""
        if not await self._until_done(user, state, partial(self._subscribe, user)):
            return
        chats = await self._until_done(user, state, partial(self._read_chats, state))
        if chats is None:
            return
        if state.known_seq is None:
            # No start point was read: nothing older than now is owed to anyone.
            start = _pin_start(state, chats)
        self._remember_peers(user, state, chats)
        catch_up = partial(self._catch_up, user, state, chats, start or {})
        if await self._until_done(user, state, catch_up):
            _tell_ready(state)

    async def _until_done(
        self, user: str, state: UserState, attempt: Callable[[], Awaitable[_T | None]]
    ) -> _T | None:
        """`attempt` (None: it failed) until it succeeds, pausing between tries; None once
        the user's state is gone (every socket left) — nobody is owed the result then."""
        while self.users.get(user) is state:
            result = await attempt()
            if result is not None:
                return result if self.users.get(user) is state else None
            await asyncio.sleep(RESUBSCRIBE_PAUSE_SECONDS)  # never a hot retry loop
        return None

    async def _read_chats(self, state: UserState) -> list[dict[str, Any]] | None:
        """The chat list, read with the user's freshest token (None: it failed)."""
        token = state.token()
        return None if token is None else await self._snapshot(token)

    async def _snapshot(self, token: str) -> list[dict[str, Any]] | None:
        try:
            return await self.store.chats(token)
        except GatewayError as err:
            log.warning("chat list unavailable code=%s", err.code)
            return None

    async def _subscribe(self, user: str) -> Literal[True] | None:
        try:
            await asyncio.wait_for(self.upstream.subscribe(user), ATTACH_TIMEOUT_SECONDS)
            return True
        except Exception:  # the upstream keeps trying; we recover once it is through
            log.warning("upstream subscribe not confirmed yet user=%s", user)
            return None

    def _remember_peers(self, user: str, state: UserState, chats: list[dict[str, Any]]) -> None:
        for row in chats:
            if peer := row.get("peer_id"):
                state.chat_peer[row["chat_id"]] = peer
                self._add_peer(user, state, peer)

    def _add_peer(self, user: str, state: UserState, peer: str) -> bool:
        if peer in state.peers:
            return False
        state.peers.add(peer)
        self._watchers.setdefault(peer, set()).add(user)
        return True

    def detach(self, conn: Connection) -> None:
        user = conn.user_id
        state = self.users.get(user)
        if state is None:
            return
        if conn in state.connections:
            state.connections.remove(conn)
        if not state.connections:
            del self.users[user]
            for peer in state.peers:
                watchers = self._watchers.get(peer)
                if watchers is not None:
                    watchers.discard(user)
                    if not watchers:
                        del self._watchers[peer]
            self.presence.local_offline(user)
            self._spawn(self.upstream.unsubscribe(user))

    def connections(self) -> int:
        return sum(len(s.connections) for s in self.users.values())

    # Events from Realtime -----------------------------------------------------------------

    def on_event(self, user: str, event: str, payload: dict[str, Any]) -> None:
        state = self.users.get(user)
        if state is None:
            return
        if event == "message":
            self._deliver_message(user, state, payload)
        elif event == "read":
            frame = encode(read_frame(payload["chat_id"], payload["user_id"], int(payload["seq"])))
            for conn in state.connections:
                if conn.covers(None, payload["user_id"]):
                    conn.enqueue(frame)
        elif event == "typing":
            sender = payload.get("user_id")
            if sender == user:
                return
            frame = encode(typing_frame(payload.get("chat_id"), str(sender)))
            for conn in state.connections:
                if conn.covers(None, sender):
                    conn.enqueue(frame)

    def _deliver_message(self, user: str, state: UserState, row: dict[str, Any]) -> None:
        if state.early is not None:
            state.early.append(row)  # the start point is being read
            return
        chat_id, seq = str(row["chat_id"]), int(row["seq"])
        if state.known_seq is not None and seq > state.known_seq.get(chat_id, 0):
            state.known_seq[chat_id] = seq
        members: list[str] = row.get("member_ids") or []
        self._learn(user, state, chat_id, [m for m in members if m != user])
        item: Outgoing | None = None
        delivered = 0
        for conn in state.connections:
            if not conn.covers(members):
                continue
            if item is None:  # encode once for every socket
                item = Outgoing(seq, encode(message_frame(wire_message(row))))
            conn.offer(chat_id, item, row["sender_id"])
            delivered += 1
        self.metrics.delivered(delivered, _age(row.get("created_at")))

    def chatting(self, user: str, chat_id: str, peer: str) -> None:
        """`user` sent a message to `peer` in `chat_id` (their chat list may predate it)."""
        state = self.users.get(user)
        if state is not None:
            self._learn(user, state, chat_id, [peer])

    def _learn(self, user: str, state: UserState, chat_id: str, others: list[str]) -> None:
        if not others:
            return
        state.chat_peer[chat_id] = others[0]
        for peer in others:
            if self._add_peer(user, state, peer):
                self._tell_presence(state, peer)

    def on_presence(self, user: str, online: bool) -> None:
        """A user came online or went offline anywhere: tell local users who chat with them."""
        watchers = self._watchers.get(user)
        if not watchers:
            return
        frame = encode(presence_frame(user, online))
        for local in watchers:
            state = self.users.get(local)
            if state is not None and local != user:
                self._send_to_covering(state, user, frame)

    def _tell_presence(self, state: UserState, peer: str) -> None:
        """A new peer: say whether they are online now (later changes come by on_presence)."""
        if self.presence.is_online(peer):
            self._send_to_covering(state, peer, encode(presence_frame(peer, True)))

    @staticmethod
    def _send_to_covering(state: UserState, peer: str, frame: str) -> None:
        for conn in state.connections:
            if conn.covers(None, peer):
                conn.enqueue(frame)

    # Recovery -----------------------------------------------------------------------------

    def gap_found(self, conn: Connection, chat_id: str) -> None:
        key = (conn.id, chat_id)
        if key not in self._filling:
            self._filling.add(key)
            self._spawn(self._fill_gap(conn, chat_id, key))

    async def _fill_gap(self, conn: Connection, chat_id: str, key: tuple[int, str]) -> None:
        try:
            await asyncio.sleep(GAP_GRACE_SECONDS)  # usually Realtime delivers it by then
            while (gap := conn.gap(chat_id)) is not None and not conn.closing:
                first, last = gap
                page = await self.store.history(
                    conn.identity.token, chat_id, min(last - first + 1, PAGE), after_seq=first - 1
                )
                if not page.rows:
                    break
                self.replay(conn, chat_id, page.rows)
        except GatewayError as err:
            log.warning("gap fill failed conn=%s code=%s", conn.id, err.code)
        finally:
            self._filling.discard(key)

    def replay(self, conn: Connection, chat_id: str, rows: list[dict[str, Any]]) -> None:
        """Offer stored rows (ascending) to one socket; the cursor drops what it has."""
        state = self.users.get(conn.user_id)
        peer = conn.peer_id or (state.chat_peer.get(chat_id) if state else None)
        for row in rows:
            receiver = conn.user_id if row["sender_id"] != conn.user_id else peer
            message = wire_message(row, receiver)
            conn.offer(chat_id, Outgoing(int(row["seq"]), encode(message_frame(message))))

    async def recover_user(self, user: str) -> None:
        """Upstream was interrupted for this user: read what was missed from the database
        (retrying while the Data API fails, as long as the user is here)."""
        state = self.users.get(user)
        if state is None or state.known_seq is None:
            return
        since = dict(state.known_seq)
        chats = await self._until_done(user, state, partial(self._read_chats, state))
        if chats is not None:
            await self._until_done(user, state, partial(self._catch_up, user, state, chats, since))

    async def _catch_up(
        self, user: str, state: UserState, chats: list[dict[str, Any]], since: dict[str, int]
    ) -> Literal[True] | None:
        """Deliver every message of `chats` after `since` (sockets drop what they have);
        None if a read failed (or no token is left) before all of it was delivered."""
        for row in chats:
            chat_id, last = str(row["chat_id"]), int(row["last_seq"])
            after = since.get(chat_id, 0)
            while after < last:
                token = state.token()
                if token is None:
                    return None
                try:
                    page = await self.store.history(token, chat_id, PAGE, after_seq=after)
                except GatewayError as err:
                    log.warning("catch-up read failed user=%s code=%s", user, err.code)
                    return None
                if not page.rows:
                    break
                members = _members(row, user)
                for item in page.rows:
                    self._deliver_message(user, state, {**item, "member_ids": members})
                after = int(page.rows[-1]["seq"])
        return True

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _pin_start(state: UserState, chats: list[dict[str, Any]]) -> dict[str, int]:
    """Every socket of the user starts after where `chats` stand; returns that point."""
    start = _seq_map(chats)  # never changed: shared by the sockets
    state.known_seq = dict(start)  # moves on with every message seen
    for conn in state.connections:
        conn.start_from(start)
    return start


def _tell_ready(state: UserState) -> None:
    state.live = True
    for conn in state.connections:
        conn.send(READY)


def _copy(seqs: dict[str, int] | None) -> dict[str, int] | None:
    return dict(seqs) if seqs is not None else None


def _seq_map(chats: list[dict[str, Any]]) -> dict[str, int]:
    return {str(row["chat_id"]): int(row["last_seq"]) for row in chats}


def _members(chat_row: dict[str, Any], user: str) -> list[str]:
    peer = chat_row.get("peer_id")
    return sorted({user, peer}) if peer else [user]


def _age(created_at: object) -> float | None:
    """Seconds since a row's created_at (commit time), for the delivery-latency metric."""
    if not isinstance(created_at, str):
        return None
    try:
        return time.time() - datetime.fromisoformat(created_at).timestamp()
    except ValueError:
        return None
