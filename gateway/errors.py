"""The one catalogue of client-facing errors: stable code, HTTP status, WebSocket close code.

Handlers raise `GatewayError(ErrorCode.X)`; only the REST middleware and the WebSocket
loop turn errors into JSON bodies, error frames or close codes. The README's error table
is this catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ErrorSpec:
    status: int  # HTTP status on REST
    close_code: int | None  # WebSocket close code when the error ends the socket, else None
    message: str  # default human text


class ErrorCode(Enum):
    # Authentication (socket-fatal).
    AUTH_REQUIRED = ErrorSpec(401, 4001, "authentication required")
    TOKEN_INVALID = ErrorSpec(401, 4001, "the access token is not valid")
    TOKEN_EXPIRED = ErrorSpec(401, 4002, "the access token has expired")
    AUTH_TIMEOUT = ErrorSpec(401, 4001, "no auth frame within the allowed time")
    TOKEN_SUBJECT_MISMATCH = ErrorSpec(403, 4003, "a refreshed token must be for the same user")
    ORIGIN_FORBIDDEN = ErrorSpec(403, 4003, "this origin is not allowed")
    USER_NOT_FOUND = ErrorSpec(403, 4003, "the token's user no longer exists")
    # Bad input (the socket stays open).
    INVALID_JSON = ErrorSpec(400, None, "the body or frame is not valid JSON")
    INVALID_REQUEST = ErrorSpec(400, None, "the request does not match the schema")
    UNKNOWN_TYPE = ErrorSpec(400, None, "unknown frame type")
    MESSAGE_EMPTY = ErrorSpec(400, None, "message_text must not be empty")
    MESSAGE_TOO_LONG = ErrorSpec(400, None, "message_text is too long")
    INVALID_PEER = ErrorSpec(400, None, "the peer must be another user's id")
    PEER_REQUIRED = ErrorSpec(400, None, "this socket covers all chats: say who it is `to`")
    FRAME_TOO_LARGE = ErrorSpec(413, 1009, "frame too large")
    REQUEST_TIMEOUT = ErrorSpec(408, None, "the request body did not arrive in time")
    # Not found / conflicts.
    NOT_FOUND = ErrorSpec(404, None, "not found")
    PEER_NOT_FOUND = ErrorSpec(404, None, "no such user")
    CHAT_NOT_FOUND = ErrorSpec(404, None, "no such chat")
    CLIENT_MSG_ID_CONFLICT = ErrorSpec(
        409, None, "client_msg_id was already used for a message in another chat"
    )
    FORBIDDEN = ErrorSpec(403, None, "not allowed")
    # Capacity and dependencies.
    RATE_LIMITED = ErrorSpec(429, None, "too many requests; retry later")
    RATE_LIMIT_FLOOD = ErrorSpec(429, 4029, "the client kept sending over its rate limit")
    TOO_MANY_CONNECTIONS = ErrorSpec(429, 4029, "too many open sockets")
    GATEWAY_FULL = ErrorSpec(503, 1013, "this gateway holds all the sockets it may; retry later")
    SLOW_CONSUMER = ErrorSpec(503, 1013, "the client is not reading fast enough")
    HEARTBEAT_TIMEOUT = ErrorSpec(408, 4008, "no answer to the gateway's ping in time")
    UPSTREAM_UNAVAILABLE = ErrorSpec(503, None, "Supabase is not reachable; try again")
    SHUTTING_DOWN = ErrorSpec(503, 1001, "the gateway is shutting down")
    INTERNAL = ErrorSpec(500, 1011, "internal error")

    @property
    def code(self) -> str:
        return self.name.lower()

    @property
    def spec(self) -> ErrorSpec:
        return self.value


class GatewayError(Exception):
    """A client-facing error from the catalogue, optionally with a more specific message."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.error = code
        self.message = message or code.spec.message
        super().__init__(f"{code.code}: {self.message}")

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def status(self) -> int:
        return self.error.spec.status

    @property
    def close_code(self) -> int | None:
        return self.error.spec.close_code

    def body(self) -> dict[str, dict[str, str]]:
        """The REST error body."""
        return {"error": {"code": self.code, "message": self.message}}

    def frame(self) -> dict[str, str]:
        """The WebSocket error frame."""
        return {"type": "error", "code": self.code, "message": self.message}
