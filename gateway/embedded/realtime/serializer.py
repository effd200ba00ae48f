"""Phoenix wire formats of the Realtime socket: V1 JSON objects, V2 JSON arrays and binary frames.

Outgoing frames are built from a payload that is JSON-encoded once by the caller, so a
fan-out encodes each broadcast once per serializer version, not once per subscriber.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

log = logging.getLogger(__name__)

Ref = str | int | None

_KIND_USER_BROADCAST_PUSH = 3
_KIND_USER_BROADCAST = 4
_V2_BINARY_HEADER = 7  # kind + five sizes + payload encoding
_MAX_FIELD = 255  # binary frames give every string field a one-byte size


class MalformedMessage(Exception):
    """A frame the server cannot decode; it is logged and dropped, the socket stays open."""


@dataclass(frozen=True, slots=True)
class Frame:
    """An outgoing WebSocket frame, already UTF-8 encoded: encoded once, sent to many."""

    data: bytes
    binary: bool = False

    @classmethod
    def text(cls, text: str) -> Frame:
        return cls(text.encode())


@dataclass(frozen=True, slots=True)
class UserBroadcast:
    """A broadcast whose payload stays raw: JSON text or binary (`%UserBroadcast{}`)."""

    event: str
    payload: bytes
    is_json: bool
    meta: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded client frame. `payload` is a UserBroadcast for binary user broadcasts."""

    join_ref: Ref
    ref: Ref
    topic: str
    event: str
    payload: Any


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ref(value: Any) -> Ref:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MalformedMessage("ref and join_ref must be strings or null")


def _inbound(join_ref: Any, ref: Any, topic: Any, event: Any, payload: Any) -> Inbound:
    if not isinstance(topic, str) or not isinstance(event, str):
        raise MalformedMessage("topic and event must be strings")
    return Inbound(_ref(join_ref), _ref(ref), topic, event, payload)


def _loads(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"invalid JSON: {exc.__class__.__name__}") from None


def user_broadcast_json(ub: UserBroadcast) -> str | None:
    """The JSON map V1 clients get for a user broadcast; None for binary payloads."""
    if not ub.is_json:
        return None  # Supabase: "User payload encoding is not JSON", never delivered to V1
    meta = "" if ub.meta is None else ',"meta":' + dumps(ub.meta)
    raw = ub.payload.decode()
    return '{"event":' + dumps(ub.event) + ',"payload":' + raw + ',"type":"broadcast"' + meta + "}"


class Serializer(ABC):
    """One wire version. `payload_json` arguments are already JSON-encoded."""

    vsn: ClassVar[int]

    @abstractmethod
    def decode(self, data: str | bytes) -> Inbound: ...

    @abstractmethod
    def message(
        self, join_ref: Ref, ref: Ref, topic: str, event: str, payload_json: str
    ) -> Frame: ...

    @abstractmethod
    def user_broadcast(self, topic: str, ub: UserBroadcast) -> Frame | None: ...

    def reply(self, join_ref: Ref, ref: Ref, topic: str, status: str, response: Any) -> Frame:
        body = dumps({"status": status, "response": response})
        return self.message(join_ref, ref, topic, "phx_reply", body)


class V1Serializer(Serializer):
    """vsn 1.0.0: JSON objects; outgoing frames carry only topic, event, payload and ref."""

    vsn = 1

    def decode(self, data: str | bytes) -> Inbound:
        obj = _loads(data)
        if not isinstance(obj, dict) or not {"topic", "event", "payload", "ref"} <= obj.keys():
            raise MalformedMessage("expected an object with topic, event, payload and ref")
        return _inbound(obj.get("join_ref"), obj["ref"], obj["topic"], obj["event"], obj["payload"])

    def message(self, join_ref: Ref, ref: Ref, topic: str, event: str, payload_json: str) -> Frame:
        return Frame.text(
            '{"topic":'
            + dumps(topic)
            + ',"event":'
            + dumps(event)
            + ',"payload":'
            + payload_json
            + ',"ref":'
            + dumps(ref)
            + "}"
        )

    def user_broadcast(self, topic: str, ub: UserBroadcast) -> Frame | None:
        body = user_broadcast_json(ub)
        return None if body is None else self.message(None, None, topic, "broadcast", body)


class V2Serializer(Serializer):
    """vsn 2.0.0: `[join_ref, ref, topic, event, payload]` arrays and binary user broadcasts."""

    vsn = 2

    def decode(self, data: str | bytes) -> Inbound:
        if isinstance(data, bytes):
            return self._decode_binary(data)
        arr = _loads(data)
        if not isinstance(arr, list) or len(arr) < 5:
            raise MalformedMessage("expected V2 array")
        return _inbound(*arr[:5])

    def _decode_binary(self, data: bytes) -> Inbound:
        if len(data) < _V2_BINARY_HEADER or data[0] != _KIND_USER_BROADCAST_PUSH:
            kind = data[0] if data else None
            raise MalformedMessage(f"unsupported binary frame kind {kind}")
        sizes = data[1:6]
        encoding = data[6]
        fields: list[bytes] = []
        offset = _V2_BINARY_HEADER
        for size in sizes:
            fields.append(data[offset : offset + size])
            offset += size
        if offset > len(data):
            raise MalformedMessage("binary frame shorter than its header says")
        join_ref, ref, topic, event, metadata = fields
        payload = data[offset:]
        try:
            texts = [part.decode() for part in (join_ref, ref, topic, event)]
        except UnicodeDecodeError:
            raise MalformedMessage("binary frame fields are not UTF-8") from None
        meta = _loads(metadata) if metadata else {}
        is_json = encoding != 0
        if is_json:
            _loads(payload)  # the only untrusted JSON we forward verbatim
        ub = UserBroadcast(texts[3], payload, is_json, meta if isinstance(meta, dict) else None)
        return Inbound(texts[0], texts[1], texts[2], "broadcast", ub)

    def message(self, join_ref: Ref, ref: Ref, topic: str, event: str, payload_json: str) -> Frame:
        head = dumps([join_ref, ref, topic, event])
        return Frame.text(head[:-1] + "," + payload_json + "]")

    def user_broadcast(self, topic: str, ub: UserBroadcast) -> Frame | None:
        topic_b, event_b = topic.encode(), ub.event.encode()
        meta_b = b"" if ub.meta is None else dumps(ub.meta).encode()
        if max(len(topic_b), len(event_b), len(meta_b)) > _MAX_FIELD:
            log.warning("a user broadcast on %s cannot be framed: a field exceeds 255 bytes", topic)
            return None
        head = bytes(
            (_KIND_USER_BROADCAST, len(topic_b), len(event_b), len(meta_b), 1 if ub.is_json else 0)
        )
        return Frame(b"".join((head, topic_b, event_b, meta_b, ub.payload)), binary=True)


V1 = V1Serializer()
V2 = V2Serializer()


def serializer_for(vsn: str | None) -> Serializer | None:
    """Phoenix's negotiation: `~> 1.0.0` or `~> 2.0.0`; None for anything else."""
    if vsn is None:
        return V1
    parts = vsn.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    major, minor = int(parts[0]), int(parts[1])
    if minor != 0:
        return None
    return {1: V1, 2: V2}.get(major)
