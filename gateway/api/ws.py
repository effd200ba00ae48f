"""The WebSocket endpoints: /ws (every chat of the user) and /ws/{receiver_id} (one peer).

Order of a socket's life. With a Bearer header or `?token=`: Origin check → admission
(gateway/api/admission.py) → authenticate → the user's socket limit → fix the start
point (the router reads where the user's chats stand) → upgrade. With a first
`{"type":"auth"}` frame instead: admission → upgrade → that frame within
limits.ws_auth_timeout_seconds → the user's socket limit → fix the start point → answer.
Either way every message committed after the client got its answer reaches the socket,
whether or not it waits for `ready`. Then: optional catch-up (`?since_seq=`) → read loop.
A bad frame gets an error frame and the socket stays open (so does a frame over a rate
limit, gateway/api/limits.py); authentication problems close it (see the error catalogue
for close codes). The token's expiry closes the socket unless a fresh token
arrives in an `auth` frame first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qsl

from aiohttp import WSMessage, WSMsgType, web

from gateway.api.actions import Actions, parse_peer
from gateway.api.admission import Ticket, admission_key
from gateway.api.limits import SocketBudget, user_rates_key
from gateway.api.middleware import ascii_token
from gateway.api.models import SEQ_MAX
from gateway.api.protocol import AuthFrame, encode, parse_frame
from gateway.auth.verifier import Identity, request_token
from gateway.delivery.client import Connection
from gateway.errors import ErrorCode, GatewayError
from gateway.services import Services, services_key

log = logging.getLogger(__name__)

_CLOSED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})
# Refusals of a frame's form, before any work: they count against the socket's budget.
BAD_INPUT = frozenset({ErrorCode.INVALID_JSON, ErrorCode.INVALID_REQUEST, ErrorCode.UNKNOWN_TYPE})


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Browsers send Origin; a page from an origin not on the allow-list may not connect
    (cross-site WebSocket hijacking). Non-browser clients send none and pass."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in allowed:
        raise GatewayError(ErrorCode.ORIGIN_FORBIDDEN)


def _query(request: web.Request) -> dict[str, str]:
    """The query's parameters (the first value of each), parsed without `request.query`:
    that one stays cached on the request for the socket's life (~0.5 KB per socket)."""
    return dict(reversed(parse_qsl(request.query_string, keep_blank_values=True)))


def _since_seq(query: dict[str, str]) -> int | None:
    raw = query.get("since_seq")
    if raw is None:
        return None
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > SEQ_MAX:
        raise GatewayError(ErrorCode.INVALID_REQUEST, "since_seq must be a non-negative bigint")
    return int(raw)


async def serve_ws(request: web.Request) -> web.WebSocketResponse:
    """`/ws` and `/ws/{receiver_id}`. (One handler, and nothing computed before the upgrade
    kept in its frame: each idle socket holds its frames for life.)"""
    services = request.app[services_key]
    check_origin(request, services.config.server.cors_origins)
    receiver = request.match_info.get("receiver_id")
    peer_id = None if receiver is None else parse_peer(receiver)
    since_seq, token = _since_and_token(request, peer_id)
    admission = request.app[admission_key]
    ticket = admission.enter(admission.address_of(request))
    try:
        return await _admitted(request, services, ticket, peer_id, since_seq, token)
    finally:
        admission.leave(ticket)


def _since_and_token(request: web.Request, peer_id: str | None) -> tuple[int | None, str | None]:
    query = _query(request)
    since_seq = _since_seq(query) if peer_id is not None else None
    return since_seq, request_token(request.headers, query)


async def _admitted(
    request: web.Request,
    services: Services,
    ticket: Ticket,
    peer_id: str | None,
    since_seq: int | None,
    token: str | None,
) -> web.WebSocketResponse:
    limits = services.config.limits
    # Pings and pongs are ours (gateway/api/heartbeat.py): aiohttp's heartbeat costs two
    # timers per socket, and with autoping it hides the pongs the heartbeat waits for.
    ws = web.WebSocketResponse(
        autoping=False, max_msg_size=limits.ws_max_frame_bytes, compress=False
    )
    if token is None:
        await _prepare(ws, request, services)
    try:
        identity = await _authenticate(ws, services, token)
        request.app[admission_key].claim(ticket, identity.user_id)
    except GatewayError as err:
        services.metrics.error(err.code)
        log.info("socket refused code=%s", err.code)
        await _prepare(ws, request, services)
        await _close(ws, err)
        return ws
    conn = Connection(
        ws,
        identity,
        peer_id=peer_id,
        queue_max=limits.ws_queue_max,
        on_gap=services.recovery.gap_found,
        on_error=services.metrics.error,
    )
    budget = SocketBudget(limits)
    actions = Actions(services, conn, request.app[user_rates_key], budget)
    try:
        try:
            resume_chat = await _attach(conn, actions, services, since_seq)
        except GatewayError as err:
            if not ws.prepared:
                raise  # no upgrade: the client gets the HTTP error and may retry
            services.metrics.error(err.code)
            log.warning("socket refused conn=%s user=%s code=%s", conn.id, conn.user_id, err.code)
            await _close(ws, err, default=1013)
            return ws
        await _prepare(ws, request, services)
        conn.open()
        await _run(ws, conn, actions, services, since_seq, resume_chat)
    finally:
        services.router.detach(conn)
        await conn.stop_writer()
    return ws


async def _prepare(ws: web.WebSocketResponse, request: web.Request, services: Services) -> None:
    if not ws.prepared:
        await ws.prepare(request)
        services.sockets.add(ws)


async def _attach(
    conn: Connection, actions: Actions, services: Services, since_seq: int | None
) -> str | None:
    """Fix the socket's start point; returns the chat a `since_seq` resumes, if it exists."""
    resume_chat = await _resume_point(conn, actions, since_seq)
    await services.router.attach(conn)
    return resume_chat


async def _authenticate(
    ws: web.WebSocketResponse, services: Services, token: str | None
) -> Identity:
    if token is None:
        timeout = services.config.limits.ws_auth_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                msg = await _next_data_frame(ws)
        except TimeoutError:
            raise GatewayError(ErrorCode.AUTH_TIMEOUT) from None
        if msg.type != WSMsgType.TEXT:
            raise GatewayError(ErrorCode.AUTH_REQUIRED)
        frame = parse_frame(msg.data)
        if not isinstance(frame, AuthFrame):
            raise GatewayError(ErrorCode.AUTH_REQUIRED, "the first frame must be an auth frame")
        token = frame.token
    return await services.verifier.verify(ascii_token(token))


async def _next_data_frame(ws: web.WebSocketResponse) -> WSMessage:
    """The next frame that is not a ping or pong (a ping is answered)."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type is not WSMsgType.PONG:
            return msg


async def _run(
    ws: web.WebSocketResponse,
    conn: Connection,
    actions: Actions,
    services: Services,
    since_seq: int | None,
    resume_chat: str | None,
) -> None:
    metrics = services.metrics
    metrics.socket_opened()
    log.debug("socket opened conn=%s user=%s", conn.id, conn.user_id)
    services.expiry.watch(conn)
    try:
        if not await _catch_up(ws, conn, actions, services, since_seq, resume_chat):
            return
        # Frames (pongs included) are read from here on: the heartbeat starts now, so a long
        # catch-up above never counts as silence.
        conn.heard()
        services.heartbeat.watch(conn)
        while True:
            # Not `async for`: its __anext__ frame would stay alive per idle socket (~0.5 KB).
            msg = await ws.receive()
            if msg.type in _CLOSED:
                break
            conn.heard()
            try:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.PING:
                        if flood := actions.budget.flood("ping"):
                            raise flood
                        await ws.pong(msg.data)
                    elif msg.type is not WSMsgType.PONG:
                        raise GatewayError(ErrorCode.INVALID_JSON, "send text frames")
                    continue
                frame = parse_frame(msg.data)
                await actions.handle(frame)
            except GatewayError as err:
                if err.error in BAD_INPUT:
                    err = actions.budget.flood("invalid") or err
                if err.close_code is not None:
                    log.info(
                        "socket closed conn=%s user=%s code=%s", conn.id, conn.user_id, err.code
                    )
                    await conn.close_with(err)  # counts the error
                    break
                metrics.error(err.code)
                log.info("frame refused conn=%s user=%s code=%s", conn.id, conn.user_id, err.code)
                conn.send(err.frame())
                continue
            if isinstance(frame, AuthFrame):
                services.expiry.watch(conn)  # the refreshed token's expiry
    except Exception:
        log.exception(
            "socket failed conn=%s user=%s code=%s", conn.id, conn.user_id, ErrorCode.INTERNAL.code
        )
        await conn.close_with(GatewayError(ErrorCode.INTERNAL))
    finally:
        services.expiry.unwatch(conn)
        services.heartbeat.unwatch(conn)
        metrics.socket_closed()
        log.debug(
            "socket closed conn=%s user=%s close_code=%s", conn.id, conn.user_id, ws.close_code
        )
        if ws.close_code is None and not conn.closing:
            await ws.close()


async def _catch_up(
    ws: web.WebSocketResponse,
    conn: Connection,
    actions: Actions,
    services: Services,
    since_seq: int | None,
    resume_chat: str | None,
) -> bool:
    """Send what `?since_seq=` asked for. If the history cannot be read the socket is
    closed with that error (1013: retry later), never left open with a hole in it."""
    if since_seq is None or conn.peer_id is None:
        return True
    try:
        if resume_chat is None:  # the chat may have been created while we attached
            resume_chat = await _existing_chat(actions, conn.peer_id)
        if resume_chat is not None:
            await services.recovery.catch_up(conn, resume_chat, since_seq)
    except GatewayError as err:
        services.metrics.error(err.code)
        conn.closing = True
        await _close(ws, err, default=1013)
        return False
    return True


async def _resume_point(conn: Connection, actions: Actions, since_seq: int | None) -> str | None:
    """Place the cursor at since_seq before attaching, so live messages that arrive during
    setup wait behind the history instead of repeating it."""
    if since_seq is None or conn.peer_id is None:
        return None
    chat_id = await _existing_chat(actions, conn.peer_id)
    if chat_id is None:
        conn.since_for_new_chat = since_seq  # the chat's first cursor starts there
    else:
        conn.resume(chat_id, since_seq)
    return chat_id


async def _existing_chat(actions: Actions, peer_id: str) -> str | None:
    try:
        return await actions.lookup_chat_id(peer_id)
    except GatewayError:
        return None  # no chat yet


async def _close(ws: web.WebSocketResponse, err: GatewayError, default: int = 1008) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(encode(err.frame()))
    await ws.close(code=err.close_code or default, message=err.code.encode())
