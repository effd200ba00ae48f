"""REST endpoints under /api. Each is declared once in ENDPOINTS with its pydantic models,
which both validate the request and generate /openapi.json."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from gateway.api import blocks
from gateway.api.actions import parse_peer, validate_text
from gateway.api.limits import user_rates_key
from gateway.api.middleware import ascii_token
from gateway.api.models import (
    Chats,
    ChatSummary,
    History,
    HistoryQuery,
    Message,
    OnlineUsers,
    ReadBody,
    ReadResult,
    SendBody,
    SendResult,
)
from gateway.api.protocol import describe, load_json
from gateway.auth.verifier import Identity, request_token
from gateway.errors import ErrorCode, GatewayError
from gateway.services import Services, services_key

Handler = Callable[[web.Request, Services, Identity], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    also: tuple[tuple[int, str], ...] = ()  # other success statuses (same body): why


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except PydanticValidationError as err:
        raise GatewayError(ErrorCode.INVALID_REQUEST, describe(err)) from None


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    # A body trickled in holds the connection as a trickled head would (slowloris).
    timeout = request.app[services_key].config.server.header_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except TimeoutError:
        raise GatewayError(ErrorCode.REQUEST_TIMEOUT) from None
    data = load_json(raw or b"null")
    if not isinstance(data, dict):
        raise GatewayError(ErrorCode.INVALID_REQUEST, "the body must be a JSON object")
    return _validate(model, data)


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


async def history(request: web.Request, services: Services, me: Identity) -> web.Response:
    peer = parse_peer(request.match_info["receiver_id"])
    query: HistoryQuery = _validate(HistoryQuery, dict(request.query))
    ceiling = services.config.limits.history_max_limit
    if query.limit > ceiling:
        raise GatewayError(ErrorCode.INVALID_REQUEST, f"limit: at most {ceiling}")
    store = services.store
    chat_id = await store.direct_chat_id(me.token, me.user_id, peer)
    if chat_id is None:
        return _json(History(messages=[], has_more=False))
    page = await store.history(
        me.token, chat_id, query.limit, before_seq=query.before_seq, after_seq=query.after_seq
    )
    messages = [
        Message.from_row(row, receiver_id=peer if row["sender_id"] == me.user_id else me.user_id)
        for row in page.rows
    ]
    return _json(History(messages=messages, has_more=page.has_more))


async def send(request: web.Request, services: Services, me: Identity) -> web.Response:
    peer = parse_peer(request.match_info["receiver_id"])
    body: SendBody = await _body(request, SendBody)
    validate_text(body.message_text, services.config.limits.message_max_chars)
    request.app[user_rates_key].check("send", me.user_id)
    row, created = await services.store.send_direct(
        me.token, peer, body.message_text, body.client_msg_id
    )
    if created:
        services.metrics.message_in()
    return _json(SendResult(message=Message.from_row(row)), 201 if created else 200)


async def chats(request: web.Request, services: Services, me: Identity) -> web.Response:
    rows = await services.store.chats(me.token)
    summaries = [ChatSummary.model_validate(row) for row in rows]
    return _json(Chats(chats=summaries))


async def online_users(request: web.Request, services: Services, me: Identity) -> web.Response:
    visible = await blocks.visible_online(services, me)
    return _json(OnlineUsers.model_validate({"online_users": visible}))


async def mark_read(request: web.Request, services: Services, me: Identity) -> web.Response:
    peer = parse_peer(request.match_info["receiver_id"])
    body: ReadBody = await _body(request, ReadBody)
    request.app[user_rates_key].check("read", me.user_id)
    chat_id = await services.store.direct_chat_id(me.token, me.user_id, peer)
    if chat_id is None:
        raise GatewayError(ErrorCode.CHAT_NOT_FOUND)
    seq = await services.store.mark_read(me.token, chat_id, me.user_id, body.seq)
    return _json(ReadResult.model_validate({"chat_id": chat_id, "seq": seq}))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/chat/{receiver_id}/messages",
        history,
        "A page of the conversation with a user, ascending by seq (the latest page by default).",
        History,
        query=HistoryQuery,
    ),
    Endpoint(
        "POST",
        "/api/chat/{receiver_id}/send",
        send,
        "Send a message (201; repeating a client_msg_id answers 200 with the original).",
        SendResult,
        status=201,
        body=SendBody,
        also=((200, "The client_msg_id was used before: the original message"),),
    ),
    Endpoint("GET", "/api/chats", chats, "Your conversations, newest first.", Chats),
    Endpoint(
        "GET",
        "/api/online-users",
        online_users,
        "Users online on any gateway whom you may see (delivery.presence_visibility).",
        OnlineUsers,
    ),
    Endpoint(
        "POST",
        "/api/chat/{receiver_id}/read",
        mark_read,
        "Mark the conversation read up to seq (never moves back).",
        ReadResult,
        body=ReadBody,
    ),
    Endpoint("GET", "/api/blocks", blocks.blocked_users, "Whom you blocked.", blocks.BlockedUsers),
    Endpoint(
        "PUT",
        "/api/blocks/{user_id}",
        blocks.block,
        "Block a user: nothing more passes between you (idempotent).",
        blocks.BlockState,
    ),
    Endpoint(
        "DELETE",
        "/api/blocks/{user_id}",
        blocks.unblock,
        "Lift your block of a user (idempotent).",
        blocks.BlockState,
    ),
)


def _view(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        token = ascii_token(request_token(request.headers, request.query))
        identity = await services.verifier.verify(token)
        return await endpoint.handler(request, services, identity)

    return view


def setup(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.path, _view(endpoint))
