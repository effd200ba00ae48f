"""The WebSocket-transport ceiling: a bare aiohttp server that answers each chat frame the
way the gateway does — `ready` when the socket opens, an `ack` with the stored message to
the sender, a `message` frame of the same shape to the peer — with no token check,
database or Realtime in between.

`python -m ops.bench.bare_server --port N` prints `listening on ws://127.0.0.1:N/ws` and
serves until SIGINT/SIGTERM. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import WSMsgType, web

from gateway.config import LISTEN_BACKLOG
from gateway.loop import run
from gateway.signals import die_with_parent, wait_for_stop_signal

sockets_key = web.AppKey("sockets", dict[str, web.WebSocketResponse])
seqs_key = web.AppKey("seqs", defaultdict[str, int])
MAX_FRAME_BYTES = 65_536  # the gateway's default limits.ws_max_frame_bytes


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _message(app: web.Application, sender: str, frame: dict[str, Any]) -> dict[str, Any]:
    peer = str(frame["to"])
    chat = ":".join(sorted((sender, peer)))
    app[seqs_key][chat] += 1
    return {
        "id": str(uuid.uuid4()),
        "chat_id": str(uuid.uuid5(uuid.NAMESPACE_URL, chat)),
        "seq": app[seqs_key][chat],
        "sender_id": sender,
        "receiver_id": peer,
        "message_text": frame["message"],
        "client_msg_id": frame.get("client_msg_id"),
        "created_at": datetime.now(UTC).isoformat(),
    }


async def serve_ws(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    # The same socket settings as the gateway's /ws.
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    claims = jwt.decode(request.query.get("token", ""), options={"verify_signature": False})
    user = str(claims["sub"])
    app[sockets_key][user] = ws
    await ws.send_str('{"type":"ready"}')  # live at once: nothing to subscribe to
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") == "ping":
                await ws.send_str('{"type":"pong"}')
            elif frame.get("type") == "chat":
                message = _message(app, user, frame)
                ack = {"type": "ack", "client_msg_id": message["client_msg_id"], "message": message}
                await ws.send_str(_encode(ack))
                peer = app[sockets_key].get(message["receiver_id"])
                if peer is not None and not peer.closed:
                    await peer.send_str(_encode({"type": "message", "message": message}))
    finally:
        if app[sockets_key].get(user) is ws:
            del app[sockets_key][user]
    return ws


def create_app() -> web.Application:
    app = web.Application()
    app[sockets_key] = {}
    app[seqs_key] = defaultdict(int)
    app.router.add_get("/ws", serve_ws)
    return app


async def _main(port: int) -> None:
    runner = web.AppRunner(create_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=LISTEN_BACKLOG).start()
        print(f"listening on ws://127.0.0.1:{runner.addresses[0][1]}/ws", flush=True)
        await wait_for_stop_signal()
    finally:
        await runner.cleanup()


def main() -> None:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="python -m ops.bench.bare_server")
    parser.add_argument("--port", type=int, default=0)
    run(_main(parser.parse_args().port))


if __name__ == "__main__":
    main()
