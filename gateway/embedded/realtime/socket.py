"""The WebSocket endpoint: upgrade authentication, the read loop with its idle timeout, and
routing each frame the way Phoenix's socket does (heartbeat, join, leave, stale join_refs).

Frames of one socket are handled one at a time, in order, as Phoenix's transport does
(a join, including its error backoff, holds the socket's later frames back).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.embedded.appkeys import context_key
from gateway.embedded.keys import TokenError
from gateway.embedded.realtime import tokens
from gateway.embedded.realtime.broadcast import handle_broadcast
from gateway.embedded.realtime.channel import Channel
from gateway.embedded.realtime.connection import Connection
from gateway.embedded.realtime.hub import hub_key
from gateway.embedded.realtime.join import join, refresh_token
from gateway.embedded.realtime.presence import handle_presence
from gateway.embedded.realtime.serializer import Inbound, MalformedMessage, serializer_for

log = logging.getLogger(__name__)

_DONE = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})
UNMATCHED_TOPIC = {"reason": "unmatched topic"}


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    hub = request.app[hub_key]
    context = request.app[context_key]
    settings = hub.settings
    serializer = serializer_for(request.query.get("vsn"))
    if serializer is None:
        return web.Response(status=403)  # Phoenix refuses an unknown transport version
    # The x-api-key header wins over the apikey query parameter.
    apikey = request.headers.get("x-api-key", request.query.get("apikey"))
    token = (context.keys.bearer_for(apikey, None) or apikey) if apikey else None
    try:
        tokens.verify(context.keys, token)
    except TokenError as err:
        log.info("websocket refused: %s", err.reason)
        await asyncio.sleep(settings.connect_error_backoff_seconds)
        return web.json_response({"error": tokens.upgrade_error(err, token)}, status=401)
    assert token is not None
    refusal = hub.limits.upgrade_refusal()
    if refusal is not None:
        log.warning("websocket refused: %s", refusal)
        await asyncio.sleep(settings.connect_error_backoff_seconds)
        return web.json_response({"error": refusal}, status=429)
    ws = web.WebSocketResponse(max_msg_size=settings.max_frame_bytes, compress=False)
    await ws.prepare(request)
    x_headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-")}
    conn = Connection(
        ws,
        request.transport,
        serializer,
        hub,
        context,
        tenant_token=token,
        x_headers=x_headers,
    )
    hub.connections.add(conn)
    conn.start()
    try:
        await _read_loop(conn, settings.idle_timeout_seconds)
    finally:
        hub.connections.discard(conn)
        hub.limits.disconnected(conn)
        await conn.finish()
    return ws


async def _read_loop(conn: Connection, idle_timeout: float) -> None:
    ws = conn.ws
    while True:
        try:
            msg = await ws.receive(timeout=idle_timeout or None)
        except TimeoutError:
            log.info("closing a socket idle for %ss", idle_timeout)
            await conn.close(WSCloseCode.OK, b"idle timeout")
            return
        if msg.type in _DONE:
            return
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            await _dispatch(conn, msg.data)


async def _dispatch(conn: Connection, data: str | bytes) -> None:
    try:
        inbound = conn.serializer.decode(data)
    except MalformedMessage as exc:
        log.warning("MalformedWebSocketMessage: %s", exc)
        return
    try:
        await _route(conn, inbound)
    except Exception:
        log.exception("UnknownErrorOnWebSocketMessage on %s (%s)", inbound.topic, inbound.event)
        channel = conn.channels.get(inbound.topic)
        if channel is not None:
            channel.close(event="phx_error")  # what a crashed Phoenix channel tells its client


async def _route(conn: Connection, msg: Inbound) -> None:
    if msg.topic == "phoenix" and msg.event == "heartbeat":
        conn.reply(None, msg.ref, "phoenix", "ok", {})
        return
    if msg.event == "phx_join":
        if msg.topic.startswith("realtime:"):
            await join(conn, msg)
        else:
            conn.reply(None, msg.ref, msg.topic, "error", UNMATCHED_TOPIC)
        return
    channel = conn.channels.get(msg.topic)
    if channel is None:
        if msg.event == "phx_leave":
            conn.reply(msg.join_ref, msg.ref, msg.topic, "ok", {})
        else:
            conn.reply(None, msg.ref, msg.topic, "error", UNMATCHED_TOPIC)
        return
    if msg.join_ref is not None and msg.join_ref != channel.join_ref:
        return  # a message for an earlier join of this topic
    await _handle_in(channel, msg)


async def _handle_in(channel: Channel, msg: Inbound) -> None:
    if msg.event == "phx_leave":
        channel.reply(msg.ref, "ok", {})
        channel.close()
    elif msg.event == "broadcast":
        await handle_broadcast(channel, msg.payload, msg.ref)
    elif msg.event == "presence":
        await handle_presence(channel, msg.payload, msg.ref)
    elif msg.event == "access_token":
        await refresh_token(channel, msg.payload)
    else:
        channel.socket.hub.limits.events.add()  # Supabase counts these as messages too
        log.info("Unexpected message from client of type `%s` on %s", msg.event, channel.topic)
