"""Broadcast replay (`config.broadcast.replay: {since, limit}`, private channels only).

At join, the newest `limit` (at most 25) database messages of the topic since `since`
(ms epoch) are pushed oldest first with `meta: {"replayed": true, "id": ...}`; their ids
are remembered so the live copy of a replayed message is not delivered twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

import asyncpg

from gateway.embedded.realtime.serializer import UserBroadcast

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel

HARD_LIMIT = 25
INVALID = "Replay params are not valid"
FAILED = "Realtime was unable to replay messages"


class ReplayError(Exception):
    """The replay cannot run; the message is the join error's (UnableToReplayMessages)."""


@dataclass(frozen=True, slots=True)
class Replayed:
    id: str
    event: str
    payload: Any
    binary_payload: bytes | None


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


async def fetch(pool: asyncpg.Pool, topic: str, params: Mapping[str, Any]) -> list[Replayed]:
    """The messages to replay, oldest first; raises ReplayError with the join reason."""
    since, limit = params.get("since"), params.get("limit", HARD_LIMIT)
    if not _integer(since) or not _integer(limit) or since < 0:
        raise ReplayError(INVALID)
    try:
        rows = await pool.fetch(
            "select id, event, payload, binary_payload from realtime.messages"
            " where topic = $1 and private is true and extension = 'broadcast'"
            # inserted_at is a timestamp without time zone, written as now()::timestamp
            "   and inserted_at >= to_timestamp($2::float8 / 1000)::timestamp"
            "   and inserted_at < now()::timestamp + interval '1 minute'"
            " order by inserted_at desc limit $3",
            topic,
            since,
            max(min(limit, HARD_LIMIT), 1),
        )
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        raise ReplayError(FAILED) from exc
    return [
        Replayed(str(row["id"]), row["event"] or "", row["payload"], row["binary_payload"])
        for row in reversed(rows)
    ]


def push(channel: Channel, messages: list[Replayed]) -> None:
    """Push replayed messages as channel pushes (stamped with the join_ref)."""
    for message in messages:
        meta = {"replayed": True, "id": message.id}
        if message.binary_payload is None:
            body = {"payload": message.payload, "event": message.event, "type": "broadcast"}
            channel.push("broadcast", {**body, "meta": meta})
            continue
        ub = UserBroadcast(message.event, message.binary_payload, False, meta)
        frame = channel.socket.serializer.user_broadcast(channel.topic, ub)
        if frame is not None:  # None on V1 sockets: they cannot represent binary payloads
            channel.socket.send(frame)
