"""Typed rows on the delivery path: what the database publishes and what the Data API
returns, as the gateway reads them (no dict[str, Any] guessing on the hot path)."""

from __future__ import annotations

from typing import NamedTuple, NotRequired, TypedDict

__all__ = [
    "ChatPosition",
    "ChatRow",
    "ChatStart",
    "MessageRow",
    "Positions",
    "ReadEvent",
    "TypingEvent",
]


class MessageRow(TypedDict):
    """A stored message: a `messages` row; published ones also carry `member_ids`."""

    id: int
    chat_id: str
    seq: int
    sender_id: str
    body: str
    client_msg_id: str | None
    created_at: str
    member_ids: NotRequired[list[str]]
    receiver_id: NotRequired[str | None]


class ReadEvent(TypedDict):
    chat_id: str
    user_id: str
    seq: int
    member_ids: list[str]


class TypingEvent(TypedDict):
    chat_id: str
    user_id: str
    member_ids: list[str]


class ChatRow(TypedDict):
    """One row of `rpc/list_my_chats`: where a chat of the caller stands."""

    chat_id: str
    peer_id: str | None
    last_seq: int


class ChatStart(NamedTuple):
    """Where one chat of a user coming online stands (`rpc/gateway_start_points`)."""

    chat_id: str
    last_seq: int
    peer_id: str | None  # the other member of a direct chat


class ChatPosition(TypedDict):
    chat_id: str
    last_seq: int
    member_ids: list[str]


class Positions(TypedDict):
    """`rpc/gateway_chat_positions`: chats with recent messages, and the database's clock."""

    checked_at: str
    chats: list[ChatPosition]
