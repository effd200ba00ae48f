"""Decoder for pgoutput's logical replication messages (protocol version 1), bytes in,
typed messages out. Pure: no I/O, no catalog.

Reference: PostgreSQL docs, "Logical Replication Message Formats".
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Commit and begin timestamps count microseconds from this instant.
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

KEY_FLAG = 1  # Relation column flag: part of the replica identity


class DecodeError(ValueError):
    """The bytes are not a pgoutput v1 message we understand."""


class Toast(enum.Enum):
    """Marker for a value the server did not send because an UPDATE left it unchanged."""

    UNCHANGED = "u"


Value = str | None | Toast


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    type_modifier: int
    in_identity: bool


@dataclass(frozen=True)
class Relation:
    relation_id: int
    schema: str
    table: str
    replica_identity: str  # 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True)
class Type:
    type_oid: int
    schema: str
    name: str


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: tuple[Value, ...]


@dataclass(frozen=True)
class Update:
    relation_id: int
    old: tuple[Value, ...] | None
    old_is_full_row: bool  # 'O' (REPLICA IDENTITY FULL) rather than 'K' (key only)
    new: tuple[Value, ...]


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old: tuple[Value, ...]
    old_is_full_row: bool


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]
    options: int


@dataclass(frozen=True)
class Message:
    """A logical decoding message (pg_logical_emit_message), sent only on request."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = (
    Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | Message
)


class _Reader:
    """Sequential reads over one message's bytes, in network byte order."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self._pos + size > len(self._data):
            raise DecodeError("message ends early")
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += size
        return int(value)

    def byte(self) -> int:
        return self._unpack("!B")

    def char(self) -> str:
        return chr(self.byte())

    def int16(self) -> int:
        return self._unpack("!h")

    def int32(self) -> int:
        return self._unpack("!i")

    def uint32(self) -> int:
        return self._unpack("!I")

    def int64(self) -> int:
        return self._unpack("!q")

    def uint64(self) -> int:
        return self._unpack("!Q")

    def string(self) -> str:
        end = self._data.find(b"\0", self._pos)
        if end < 0:
            raise DecodeError("unterminated string")
        text = self._data[self._pos : end].decode("utf-8")
        self._pos = end + 1
        return text

    def raw(self, size: int) -> bytes:
        if size < 0 or self._pos + size > len(self._data):
            raise DecodeError("message ends early")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def timestamp(self) -> datetime:
        return PG_EPOCH + timedelta(microseconds=self.int64())

    def tuple_data(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.int16()):
            kind = self.char()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(Toast.UNCHANGED)
            elif kind == "t":
                values.append(self.raw(self.int32()).decode("utf-8"))
            else:
                raise DecodeError(f"unsupported tuple value kind {kind!r}")
        return tuple(values)

    def done(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} unexpected trailing bytes")


def _begin(r: _Reader) -> Begin:
    return Begin(final_lsn=r.uint64(), commit_time=r.timestamp(), xid=r.uint32())


def _commit(r: _Reader) -> Commit:
    return Commit(
        flags=r.byte(), commit_lsn=r.uint64(), end_lsn=r.uint64(), commit_time=r.timestamp()
    )


def _origin(r: _Reader) -> Origin:
    return Origin(lsn=r.uint64(), name=r.string())


def _relation(r: _Reader) -> Relation:
    relation_id, schema, table, identity = r.uint32(), r.string(), r.string(), r.char()
    columns = []
    for _ in range(r.int16()):
        flags = r.byte()
        columns.append(
            RelationColumn(
                name=r.string(),
                type_oid=r.uint32(),
                type_modifier=r.int32(),
                in_identity=bool(flags & KEY_FLAG),
            )
        )
    return Relation(relation_id, schema, table, identity, tuple(columns))


def _type(r: _Reader) -> Type:
    return Type(type_oid=r.uint32(), schema=r.string(), name=r.string())


def _insert(r: _Reader) -> Insert:
    relation_id = r.uint32()
    if r.char() != "N":
        raise DecodeError("insert without a new tuple")
    return Insert(relation_id, r.tuple_data())


def _update(r: _Reader) -> Update:
    relation_id = r.uint32()
    marker = r.char()
    old: tuple[Value, ...] | None = None
    full = marker == "O"
    if marker in ("K", "O"):
        old = r.tuple_data()
        marker = r.char()
    if marker != "N":
        raise DecodeError("update without a new tuple")
    return Update(relation_id, old, full, r.tuple_data())


def _delete(r: _Reader) -> Delete:
    relation_id = r.uint32()
    marker = r.char()
    if marker not in ("K", "O"):
        raise DecodeError("delete without an old tuple")
    return Delete(relation_id, r.tuple_data(), marker == "O")


def _truncate(r: _Reader) -> Truncate:
    count, options = r.int32(), r.byte()
    return Truncate(tuple(r.uint32() for _ in range(count)), options)


def _message(r: _Reader) -> Message:
    flags, lsn, prefix = r.byte(), r.uint64(), r.string()
    return Message(bool(flags & 1), lsn, prefix, r.raw(r.int32()))


_DECODERS: dict[str, Callable[[_Reader], PgOutputMessage]] = {
    "B": _begin,
    "C": _commit,
    "O": _origin,
    "R": _relation,
    "Y": _type,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "M": _message,
}


def decode_message(data: bytes) -> PgOutputMessage:
    """Decode one pgoutput v1 message (the payload of one XLogData)."""
    if not data:
        raise DecodeError("empty message")
    decoder = _DECODERS.get(chr(data[0]))
    if decoder is None:
        raise DecodeError(f"unknown message type {chr(data[0])!r}")
    reader = _Reader(data[1:])
    message: PgOutputMessage = decoder(reader)
    reader.done()
    return message
