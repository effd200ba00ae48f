"""One client socket: who it is, which chats it covers, its cursors, and its writer.

Concurrency model: everyone else only *enqueues* text on a bounded queue; one writer
task per socket, alive only while the queue is not empty, takes what is queued and writes
it (so at most one batch in flight plus a full queue). Frames queued before the socket is
`open` (its start point is fixed before the upgrade is answered) wait for it.
A socket whose queue is full is closed (1013 slow_consumer) instead of slowing anyone
else down. Cursor state is touched only
from the event loop thread, never across an await, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway.api.protocol import encode
from gateway.auth.verifier import Identity
from gateway.delivery.cursor import ChatCursor, Outgoing
from gateway.errors import ErrorCode, GatewayError

log = logging.getLogger(__name__)

_ids = itertools.count(1)
WRITE_TIMEOUT_SECONDS = 10.0

__all__ = ["Connection", "FrameSink", "OwnMessage"]


class FrameSink(Protocol):
    """What a Connection writes to: aiohttp's WebSocketResponse (a fake in unit tests)."""

    @property
    def closed(self) -> bool: ...
    @property
    def close_code(self) -> int | None: ...
    async def send_str(self, data: str) -> None: ...
    async def ping(self, message: bytes = b"") -> None: ...
    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...


# An own message as stored: its chat, its seq, and the ack frame that stands in for it.
OwnMessage = tuple[str, int, dict[str, Any]]


class Connection:
    __slots__ = (
        "__weakref__",
        "_cursors",
        "_held",
        "_on_error",
        "_on_gap",
        "_open",
        "_pending",
        "_queue_max",
        "_start_seq",
        "closer",
        "closing",
        "id",
        "identity",
        "peer_id",
        "pinged",
        "seen",
        "sending",
        "since_for_new_chat",
        "writer",
        "ws",
    )

    def __init__(
        self,
        ws: FrameSink,
        identity: Identity,
        *,
        peer_id: str | None,
        queue_max: int,
        on_gap: Callable[[Connection, str], None],
        on_error: Callable[[str], None] = lambda code: None,
    ) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.identity = identity
        self.peer_id = peer_id  # /ws/{receiver_id} covers one peer; /ws covers every chat
        self._on_gap = on_gap
        self._on_error = on_error  # counts errors that close the socket (metrics)
        self._pending: list[str] = []  # a list, not a deque: 56 bytes idle, not 624
        self._queue_max = queue_max
        self._cursors: dict[str, ChatCursor] = {}
        self._start_seq: dict[str, int] | None = None  # chat → last seq known at attach
        self._held: list[tuple[str, Outgoing]] = []  # own messages seen while a send is in flight
        # A peer socket's since_seq for a chat that did not exist yet when it connected.
        self.since_for_new_chat: int | None = None
        self.sending = False
        self._open = False  # frames wait until the upgrade (or auth frame) is answered
        self.closing = False
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.seen = time.monotonic()  # the last frame received (the heartbeat reads it)
        self.pinged = 0.0

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def expires_at(self) -> float:
        return self.identity.expires_at

    def expire(self) -> None:
        self.close_soon(GatewayError(ErrorCode.TOKEN_EXPIRED))

    # Heartbeat ----------------------------------------------------------------------------

    def heard(self) -> None:
        self.seen = time.monotonic()

    async def ping(self) -> None:
        if not self.closing:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.ping()

    def unresponsive(self) -> None:
        self.close_soon(GatewayError(ErrorCode.HEARTBEAT_TIMEOUT))

    # Scope --------------------------------------------------------------------------------

    def covers(self, member_ids: list[str] | None, user_id: str | None = None) -> bool:
        """Does this socket want an event of a chat with these members (or from this user)?"""
        if self.peer_id is None:
            return True
        if member_ids is not None:
            return self.peer_id in member_ids or (
                self.peer_id == self.user_id and member_ids == [self.user_id]
            )
        return user_id in (self.peer_id, self.user_id)

    def start_from(self, known_seq: dict[str, int] | None) -> None:
        """Cursors of chats seen later start after what was stored when the socket came.

        None means the starting point is unknown: a chat's cursor then starts at the
        first message that arrives.
        """
        self._start_seq = known_seq  # not copied: callers pass a dict no one changes

    @property
    def has_start(self) -> bool:
        return self._start_seq is not None

    def cursor(self, chat_id: str, first_seq: int) -> ChatCursor:
        cursor = self._cursors.get(chat_id)
        if cursor is None:
            if self.since_for_new_chat is not None:
                start = self.since_for_new_chat + 1
            elif self._start_seq is None:
                start = first_seq
            else:
                start = self._start_seq.get(chat_id, 0) + 1
            cursor = self._cursors[chat_id] = ChatCursor(start)
        return cursor

    def resume(self, chat_id: str, since_seq: int) -> ChatCursor:
        """Restart a chat's cursor right after since_seq (history follows through offer)."""
        cursor = self._cursors[chat_id] = ChatCursor(since_seq + 1)
        return cursor

    # Delivery -----------------------------------------------------------------------------

    def offer(self, chat_id: str, item: Outgoing, sender_id: str | None = None) -> None:
        if self.sending and sender_id == self.user_id:
            self._held.append((chat_id, item))  # may be the copy of the send in flight
            return
        cursor = self.cursor(chat_id, item.seq)
        for ready in cursor.offer(item):
            self.enqueue(ready.text)
        if cursor.gap is not None:
            self._on_gap(self, chat_id)

    async def send_own(self, store: Awaitable[OwnMessage]) -> OwnMessage:
        """Store an own message (`store`) and ack it on this socket. Copies of own messages
        that arrive meanwhile (live or recovered) wait: the ack stands in for the copy of
        this one, and the others follow it in seq order. Frames of one socket are handled
        one at a time, so at most one own send is in flight."""
        self.sending = True
        stored: OwnMessage | None = None
        try:
            stored = await store
            self.send(stored[2])  # the ack
            return stored
        finally:
            self.sending = False
            if stored is not None:
                self._acked(stored[0], stored[1])
            else:
                self._release_held()

    def _acked(self, chat_id: str, seq: int) -> None:
        """The ack for own message `seq` was enqueued: release what it unblocks."""
        cursor = self.cursor(chat_id, seq)
        for ready in cursor.acked(seq):
            self.enqueue(ready.text)
        self._release_held(skip=(chat_id, seq))

    def _release_held(self, skip: tuple[str, int] | None = None) -> None:
        """The send in flight ended: offer own messages held meanwhile (minus the acked one)."""
        held, self._held = self._held, []
        for held_chat, item in held:
            if (held_chat, item.seq) != skip:
                self.offer(held_chat, item)

    def gap(self, chat_id: str) -> tuple[int, int] | None:
        cursor = self._cursors.get(chat_id)
        return cursor.gap if cursor else None

    def send(self, frame: dict[str, Any]) -> None:
        self.enqueue(encode(frame))

    def enqueue(self, text: str) -> None:
        if self.closing:
            return
        if len(self._pending) >= self._queue_max:
            log.warning("closing slow consumer conn=%s user=%s", self.id, self.user_id)
            self.close_soon(GatewayError(ErrorCode.SLOW_CONSUMER))
            return
        self._pending.append(text)
        if self.writer is None and self._open:
            # The writer exists only while there is something to write: an idle socket
            # holds no task (thousands of idle sockets are the common case).
            self.writer = asyncio.get_running_loop().create_task(self._write())

    # Lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """The client has its answer (upgrade or auth): write what was queued, and more."""
        self._open = True
        if self._pending and self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                # One deadline per batch, not per frame (a timer each cost ~3% of the CPU
                # under load): a client that stops reading stalls the batch either way.
                async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                    for text in batch:
                        await self.ws.send_str(text)
        except (ConnectionError, TimeoutError, RuntimeError):
            # The peer went away or stopped reading; the read loop notices and cleans up.
            self.closing = True
            if not self.ws.closed:
                await self.ws.close(code=1011, message=b"write failed")
        finally:
            if self.writer is asyncio.current_task():
                self.writer = None  # a finished task kept per idle socket costs ~0.5 KB

    def close_soon(self, error: GatewayError) -> None:
        """Close from any context (fan-out included): send the error, then the close code."""
        if self.closing:
            return
        self.closing = True
        self._on_error(error.code)
        self.closer = asyncio.get_running_loop().create_task(self._close_with(error))

    @property
    def queue_max(self) -> int:
        return self._queue_max

    async def drained(self) -> None:
        """Until what is queued has been written, or the socket failed: a catch-up offers
        history no faster than the client reads it (else a gap longer than the queue
        closed a healthy reader as a slow consumer)."""
        writer = self.writer
        if writer is not None and not self.closing:
            await asyncio.wait({writer})  # never cancels the writer itself

    async def close_with(self, error: GatewayError) -> None:
        """Close now (from the socket's own handler): the error frame, then the close code."""
        if self.closer is not None:
            await self.closer
            return
        self.closing = True
        self._on_error(error.code)
        await self._close_with(error)

    async def _close_with(self, error: GatewayError) -> None:
        try:
            await asyncio.wait_for(self.ws.send_str(encode(error.frame())), 1.0)
        except (ConnectionError, TimeoutError, RuntimeError):
            pass
        await self.ws.close(code=error.close_code or 1008, message=error.code.encode())

    async def stop_writer(self) -> None:
        if self.closer is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.closer  # a close requested elsewhere finishes before we go
        if self.writer is None:
            return
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
