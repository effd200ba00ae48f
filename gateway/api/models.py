"""The public API's data shapes (pydantic): messages, chats, REST bodies and answers.

The OpenAPI document is generated from these; the WebSocket frames reuse `Message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

# PostgreSQL's bigint (seq columns) ends here: a larger number is refused as bad input
# instead of reaching the database (SQLSTATE 22003, an internal error).
SEQ_MAX = 2**63 - 1


def storable(text: str) -> str:
    """Text PostgreSQL can store: no NUL (its text type cannot hold U+0000) and no lone
    surrogate (JSON's "\\ud800" decodes to one; it is not a character and has no UTF-8)."""
    if "\x00" in text:
        raise ValueError("must not contain NUL (U+0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain unpaired surrogates") from None
    return text


StorableText = Annotated[str, AfterValidator(storable)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Message(_Model):
    """A stored message as clients see it."""

    id: int = Field(description="Database id.")
    chat_id: UUID
    seq: int = Field(description="Position in the chat: 1, 2, 3… without gaps.")
    sender_id: UUID
    receiver_id: UUID | None = Field(description="The peer of a direct chat.")
    message_text: str
    client_msg_id: str | None
    created_at: str = Field(description="Commit time, ISO 8601.")

    @classmethod
    def from_row(cls, row: Mapping[str, Any], receiver_id: str | None = None) -> Message:
        """From the database shape (body, member_ids) to the API shape, validated."""
        return cls.model_validate(wire_message(row, receiver_id))


def wire_message(row: Mapping[str, Any], receiver_id: str | None = None) -> dict[str, Any]:
    """The API shape of a stored message as a plain dict: the delivery hot path, where the
    row already comes from our own database (REST answers go through `Message`)."""
    receiver = row.get("receiver_id") or receiver_id
    if receiver is None and "member_ids" in row:
        others = [m for m in row["member_ids"] if m != row["sender_id"]]
        receiver = others[0] if others else row["sender_id"]
    return {
        "id": row["id"],
        "chat_id": row["chat_id"],
        "seq": row["seq"],
        "sender_id": row["sender_id"],
        "receiver_id": receiver,
        "message_text": row["body"],
        "client_msg_id": row.get("client_msg_id"),
        "created_at": row["created_at"],
    }


class SendBody(_Model):
    message_text: StorableText = Field(description="1 to limits.message_max_chars characters.")
    client_msg_id: StorableText | None = Field(
        None, min_length=1, max_length=128, description="Makes retries idempotent."
    )


class ReadBody(_Model):
    seq: StrictInt = Field(ge=0, le=SEQ_MAX, description="Everything up to this seq has been read.")


class HistoryQuery(_Model):
    limit: int = Field(50, ge=1, description="Page size (at most limits.history_max_limit).")
    before_seq: int | None = Field(
        None, ge=1, le=SEQ_MAX, description="Page of messages before this seq."
    )
    after_seq: int | None = Field(
        None, ge=0, le=SEQ_MAX, description="Page of messages after this seq."
    )

    @model_validator(mode="after")
    def _one_cursor(self) -> HistoryQuery:
        if self.before_seq is not None and self.after_seq is not None:
            raise ValueError("give before_seq or after_seq, not both")
        return self


class SendResult(_Model):
    message: Message


class History(_Model):
    messages: list[Message] = Field(description="Ascending by seq.")
    has_more: bool = Field(description="More messages exist beyond this page.")


class ChatSummary(_Model):
    chat_id: UUID
    peer_id: UUID | None
    last_message_at: str | None
    last_message_text: str | None
    last_seq: int
    unread_count: int


class Chats(_Model):
    chats: list[ChatSummary] = Field(description="Newest first.")


class OnlineUsers(_Model):
    online_users: list[UUID]


class ReadResult(_Model):
    chat_id: UUID
    seq: int = Field(description="The read marker after the update (never moves back).")


class ErrorDetail(_Model):
    code: str
    message: str


class ErrorBody(_Model):
    error: ErrorDetail
