"""WebSocket frames: one pydantic model per inbound type, and builders for outbound ones.

Inbound frames are validated here and nowhere else; a frame that fails becomes a
GatewayError with a catalogue code, and the socket stays open.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from gateway.api.models import SEQ_MAX, storable
from gateway.errors import ErrorCode, GatewayError


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChatFrame(_Frame):
    type: Literal["chat"]
    message: Annotated[StrictStr, AfterValidator(storable)]
    client_msg_id: (
        Annotated[StrictStr, AfterValidator(storable), Field(min_length=1, max_length=128)] | None
    ) = None
    to: UUID | None = None


class PingFrame(_Frame):
    type: Literal["ping"]


class TypingFrame(_Frame):
    type: Literal["typing"]
    to: UUID | None = None


class ReadFrame(_Frame):
    type: Literal["read"]
    seq: Annotated[StrictInt, Field(ge=0, le=SEQ_MAX)]
    to: UUID | None = None


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: Annotated[StrictStr, AfterValidator(storable), Field(min_length=1)]


class ResumeFrame(_Frame):
    type: Literal["resume"]
    since_seq: Annotated[StrictInt, Field(ge=0, le=SEQ_MAX)]
    peer_id: UUID | None = None
    chat_id: UUID | None = None


InboundFrame = ChatFrame | PingFrame | TypingFrame | ReadFrame | AuthFrame | ResumeFrame
_FRAMES: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(model)
    for name, model in {
        "chat": ChatFrame,
        "ping": PingFrame,
        "typing": TypingFrame,
        "read": ReadFrame,
        "auth": AuthFrame,
        "resume": ResumeFrame,
    }.items()
}


def parse_frame(raw: str | bytes) -> InboundFrame:
    """Decode and validate one client frame."""
    data = load_json(raw)
    if not isinstance(data, dict):
        raise GatewayError(ErrorCode.INVALID_REQUEST, "a frame is a JSON object with a type")
    kind = data.get("type")
    adapter = _FRAMES.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        raise GatewayError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind!r}")
    try:
        frame: InboundFrame = adapter.validate_python(data)
    except PydanticValidationError as err:
        raise GatewayError(ErrorCode.INVALID_REQUEST, describe(err)) from None
    return frame


def load_json(raw: str | bytes) -> Any:
    """Decode a frame or body; nesting past the interpreter's recursion limit is bad JSON
    too (json raises RecursionError, not ValueError, for it)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise GatewayError(ErrorCode.INVALID_JSON) from None


def describe(err: PydanticValidationError) -> str:
    """A short, stable description of what failed: `field: problem; ...`."""
    parts = []
    for item in err.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def message_frame(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "message": message}


def ack_frame(client_msg_id: str | None, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ack", "client_msg_id": client_msg_id, "message": message}


def typing_frame(chat_id: str | None, user_id: str) -> dict[str, Any]:
    return {"type": "typing", "chat_id": chat_id, "user_id": user_id}


def read_frame(chat_id: str, user_id: str, seq: int) -> dict[str, Any]:
    return {"type": "read", "chat_id": chat_id, "user_id": user_id, "seq": seq}


def presence_frame(user_id: str, online: bool) -> dict[str, Any]:
    return {"type": "presence", "user_id": user_id, "online": online}


PONG: dict[str, Any] = {"type": "pong"}
# The socket's live stream is on: what was committed since it connected has been sent,
# and typing/read/presence frames flow from here.
READY: dict[str, Any] = {"type": "ready"}
