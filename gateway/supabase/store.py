"""Reads and writes through the Supabase Data API, always with the user's own token.

Every call runs as the user, so RLS decides what the gateway may see or write on their
behalf: the gateway never widens a user's access. One postgrest client and one HTTP
connection pool serve all users; each request carries its user's token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from postgrest.base_request_builder import RequestConfig

from gateway.delivery.rows import ChatRow, ChatStart, MessageRow, Positions
from gateway.errors import ErrorCode, GatewayError
from gateway.supabase.data_api import DataApi, DataApiError

__all__ = ["Page", "ServiceReads", "Store", "direct_key"]

log = logging.getLogger(__name__)

MESSAGE_COLUMNS = "id,chat_id,seq,sender_id,body,client_msg_id,created_at"

# Data API error codes → our catalogue. Anything else is an internal error (logged).
_CODES = {
    "PT400": ErrorCode.INVALID_PEER,
    "PT403": ErrorCode.USER_NOT_FOUND,  # a deleted user's still-valid token
    "PT404": ErrorCode.PEER_NOT_FOUND,
    "PT409": ErrorCode.CLIENT_MSG_ID_CONFLICT,
    "42501": ErrorCode.FORBIDDEN,
    "PGRST301": ErrorCode.TOKEN_INVALID,
    "PGRST303": ErrorCode.TOKEN_EXPIRED,
    # The database's message rules (sql/…_enforce_message_body_rules.sql).
    "22001": ErrorCode.MESSAGE_TOO_LONG,
    "23514": ErrorCode.MESSAGE_EMPTY,
    # Values PostgreSQL cannot take (a number past bigint, U+0000 in text): the caller's
    # input, whatever path let it through.
    "22003": ErrorCode.INVALID_REQUEST,
    "22P05": ErrorCode.INVALID_REQUEST,
}
# The Data API cannot serve now (no database connection, no schema cache): retry later.
_UNAVAILABLE = frozenset({"PGRST000", "PGRST001", "PGRST002", "PGRST003"})


@dataclass(frozen=True)
class Page:
    rows: list[MessageRow]  # ascending by seq
    has_more: bool


def direct_key(a: str, b: str) -> str:
    """The chats.direct_key of the direct chat between two users."""
    return f"{min(a, b)}:{max(a, b)}"


class Store:
    def __init__(self, api: DataApi) -> None:
        # One builder for every user: each request carries the caller's token on its own.
        self._api = api
        self._client = api.builder

    async def send_direct(
        self, token: str, peer_id: str, text: str, client_msg_id: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Store a message to a peer; (message row, created). Idempotent per client_msg_id."""
        params: dict[str, Any] = {"peer_id": peer_id, "body": text, "client_msg_id": client_msg_id}
        data = await self.call(token, "send_direct_message", params)
        return data["message"], bool(data["created"])

    async def direct_chat_id(self, token: str, me: str, peer: str) -> str | None:
        """The chat between me and peer if it exists and I may see it."""
        query = (
            self._client.table("chats").select("id").eq("direct_key", direct_key(me, peer)).limit(1)
        )
        rows = await self._run(token, query)
        return str(rows[0]["id"]) if rows else None

    async def history(
        self,
        token: str,
        chat_id: str,
        limit: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> Page:
        """A page of messages ascending by seq: the latest, before or after a seq."""
        query = self._client.table("messages").select(MESSAGE_COLUMNS).eq("chat_id", chat_id)
        if after_seq is not None:
            query = query.gt("seq", after_seq).order("seq")
        else:
            if before_seq is not None:
                query = query.lt("seq", before_seq)
            query = query.order("seq", desc=True)
        rows: list[MessageRow] = await self._run(token, query.limit(limit + 1))
        has_more = len(rows) > limit
        rows = rows[:limit]
        if after_seq is None:
            rows.reverse()
        return Page(rows, has_more)

    async def chats(self, token: str) -> list[ChatRow]:
        rows: list[ChatRow] = await self.call(token, "list_my_chats", {})
        return rows

    async def mark_read(self, token: str, chat_id: str, user_id: str, seq: int) -> int:
        """Move my read marker forward; return where it stands (it never moves back)."""
        query = (
            self._client.table("chat_members")
            .update({"last_read_seq": seq})
            .eq("chat_id", chat_id)
            .eq("user_id", user_id)
        )
        rows = await self._run(token, query)
        if not rows:
            raise GatewayError(ErrorCode.CHAT_NOT_FOUND)
        return int(rows[0]["last_read_seq"])

    async def ping(self, service_key: str) -> None:
        """One cheap read as service_role: is the Data API (and its database) answering?"""
        await self._run(service_key, self._client.table("chats").select("id").limit(1))

    async def call(self, token: str, function: str, params: dict[str, Any]) -> Any:
        """A Data API function (`rpc/<function>`) called with this token."""
        return await _answer(self._api.rpc(token, function, params))

    async def _run(self, token: str, query: Any) -> Any:
        request: RequestConfig[Any] = query.request
        return await _answer(self._api.execute(token, request))


async def _answer(call: Awaitable[Any]) -> Any:
    """A Data API call's answer, its error in our catalogue."""
    try:
        return await call
    except DataApiError as err:
        raise _translate(err) from None


def _translate(err: DataApiError) -> GatewayError:
    code = _CODES.get(err.code or "")
    if code is not None:
        return GatewayError(code)
    # No code: unreachable, or answered by what is in front of the Data API (a 502/504).
    if err.code is None or err.code in _UNAVAILABLE:
        return GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
    log.error("unexpected Data API error status=%s code=%s", err.status, err.code)
    return GatewayError(ErrorCode.INTERNAL)


class ServiceReads:
    """What the gateway reads as service_role, for itself rather than for a user: which
    topics to hold, where recently active chats stand (the position check), and where the
    chats of users coming online stand (their start points, many users per call)."""

    def __init__(self, store: Store, service_key: str) -> None:
        self._store = store
        self.token = service_key

    async def delivery_topics(self) -> list[str]:
        topics: list[str] = await self._store.call(self.token, "gateway_delivery_topics", {})
        return topics

    async def probe(self, topic: str, nonce: str) -> None:
        await self._store.call(self.token, "gateway_probe", {"topic": topic, "nonce": nonce})

    async def positions(self, since: str | None) -> Positions:
        answer: Positions = await self._store.call(
            self.token, "gateway_chat_positions", {"since": since}
        )
        return answer

    async def start_points(self, user_ids: list[str]) -> dict[str, list[ChatStart]]:
        rows: list[list[Any]] = await self._store.call(
            self.token, "gateway_start_points", {"user_ids": user_ids}
        )
        points: dict[str, list[ChatStart]] = {}
        for user, chat, last_seq, peer in rows:
            points.setdefault(user, []).append(ChatStart(chat, int(last_seq), peer))
        return points
