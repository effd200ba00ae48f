"""Small fakes of the delivery core's own interfaces (a Store's reads, presence, a socket's
frame sink) for fast deterministic unit tests. Never fakes of Supabase, PostgreSQL or an
official client: those are always real, in the acceptance tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.verifier import Identity
from gateway.delivery.client import Connection
from gateway.delivery.rows import ChatStart, MessageRow, Positions


class FakeSink:
    """A WebSocket that records what is written."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    async def send_str(self, data: str) -> None:
        self.frames.append(json.loads(data))

    async def ping(self, message: bytes = b"") -> None:
        return None

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.close_code = code
        return True

    def messages(self, chat_id: str | None = None) -> list[int]:
        return [
            f["message"]["seq"]
            for f in self.frames
            if f["type"] in ("message", "ack")
            and (chat_id is None or f["message"]["chat_id"] == chat_id)
        ]


def connection(
    user: str, on_gap: Callable[[Connection, str], None], peer: str | None = None
) -> tuple[Connection, FakeSink]:
    sink = FakeSink()
    identity = Identity(user_id=user, token=user, expires_at=2**40)
    return Connection(sink, identity, peer_id=peer, queue_max=100_000, on_gap=on_gap), sink


async def flushed(*conns: Connection) -> None:
    """Until every socket's writer has written what is queued."""
    for _ in range(1000):
        if all(c.writer is None for c in conns):
            return
        await asyncio.sleep(0)
    raise AssertionError("writers did not finish")


@dataclass
class Page:
    rows: list[MessageRow]
    has_more: bool


@dataclass
class Chat:
    chat_id: str
    members: list[str]
    rows: list[MessageRow] = field(default_factory=list)


class World:
    """An in-memory database of chats: the Store's reads the core uses, and the events the
    database would publish (kept in `in_flight` for the test to deliver, drop or repeat)."""

    def __init__(self) -> None:
        self.chats: dict[str, Chat] = {}
        self.in_flight: list[tuple[str, dict[str, Any]]] = []
        self.during_read: Callable[[], Awaitable[None]] | None = None
        self.snapshots: list[dict[str, int]] = []  # what each chat-list read answered
        self.clock = 0
        self.failing_history = False

    def add_chat(self, chat_id: str, members: list[str]) -> None:
        self.chats[chat_id] = Chat(chat_id, sorted(members))

    def commit(self, chat_id: str, sender: str) -> MessageRow:
        chat = self.chats[chat_id]
        seq = len(chat.rows) + 1
        row: MessageRow = {
            "id": seq,
            "chat_id": chat_id,
            "seq": seq,
            "sender_id": sender,
            "body": f"{chat_id}#{seq}",
            "client_msg_id": None,
            "created_at": "2026-12-03T00:00:00+00:00",
        }
        chat.rows.append(row)
        self.in_flight.append(("message", {**row, "member_ids": chat.members}))
        return row

    async def start_points(self, user_ids: list[str]) -> dict[str, list[ChatStart]]:
        """Every user's chats in one snapshot, as `rpc/gateway_start_points` reads them."""
        points: dict[str, list[ChatStart]] = {}
        for user in user_ids:
            points[user] = [
                ChatStart(c.chat_id, len(c.rows), next((m for m in c.members if m != user), None))
                for c in self.chats.values()
                if user in c.members
            ]
            self.snapshots.append({chat.chat_id: chat.last_seq for chat in points[user]})
        if self.during_read is not None:
            await self.during_read()
        return points

    async def history(
        self,
        token: str,
        chat_id: str,
        limit: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> Page:
        await asyncio.sleep(0)
        if self.failing_history:
            from gateway.errors import ErrorCode, GatewayError

            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
        chat = self.chats[chat_id]
        if token not in chat.members and token != "service":
            return Page([], False)
        rows = [r for r in chat.rows if r["seq"] > (after_seq or 0)]
        return Page(rows[:limit], len(rows) > limit)

    async def positions(self, since: str | None) -> Positions:
        self.clock += 1
        chats = [
            {"chat_id": c.chat_id, "last_seq": len(c.rows), "member_ids": c.members}
            for c in self.chats.values()
            if since is not None
        ]
        return {"checked_at": str(self.clock), "chats": chats}  # type: ignore[typeddict-item]


class Presence:
    def __init__(self) -> None:
        self.online: set[str] = set()

    def is_online(self, user_id: str) -> bool:
        return user_id in self.online

    def local_online(self, user_id: str) -> None:
        self.online.add(user_id)

    def local_offline(self, user_id: str) -> None:
        self.online.discard(user_id)


class Core:
    """The delivery core wired as gateway.app wires it, on a World, with no grace periods."""

    def __init__(self, world: World) -> None:
        from gateway.delivery.positions import PositionCheck
        from gateway.delivery.recovery import Recovery
        from gateway.delivery.router import Router
        from gateway.delivery.start_points import StartPointReader
        from gateway.delivery.users import LocalUsers
        from gateway.delivery.visibility import Visibility
        from gateway.delivery.watchers import PeerWatch
        from gateway.metrics import Metrics

        self.world = world
        self.presence = Presence()
        self.users = LocalUsers(StartPointReader(world))
        self.router = Router(
            self.users,
            PeerWatch(self.users, self.presence, Visibility()),
            self.presence,
            Metrics(),
        )
        self.recovery = Recovery(world, self.users, grace_seconds=0)
        self.positions = PositionCheck(
            world,
            world,
            "service",
            self.users,
            self.router,
            self.recovery,
            Metrics(),
            interval=60,
            grace=0,
        )
        self.router.on_live()

    async def connect(self, user: str, peer: str | None = None) -> tuple[Connection, FakeSink]:
        conn, sink = connection(user, self.recovery.gap_found, peer)
        await self.router.attach(conn)
        conn.open()
        return conn, sink

    def deliver(self, index: int = 0, *, keep: bool = False) -> None:
        """Realtime delivers the in-flight event at `index` (and, with keep, will again)."""
        event, payload = self.world.in_flight[index]
        if not keep:
            del self.world.in_flight[index]
        self.router.on_event(event, payload)

    def deliver_all(self) -> None:
        while self.world.in_flight:
            self.deliver()

    async def settle(self, *conns: Connection) -> None:
        """Recovery runs to the end: holes filled, the position check done twice (the
        first only sets its clock), writers flushed."""
        await self.recovery.drain()
        await self.positions.check()
        await self.positions.check()
        await self.recovery.drain()
        await flushed(*conns)
