"""A Realtime subscriber process for the upstream shape comparison (`ops.bench.shapes`):
one service_role socket, joined in one of two shapes, noting when each message arrives.

- `broadcast`: joined to every private `chats:<k>` topic, counting each `message`
  broadcast (what a gateway holds);
- `changes`: one channel with a `postgres_changes` binding on INSERT of public.messages,
  counting each change.

It speaks the Phoenix protocol (vsn 1.0.0 JSON objects; join payload and heartbeat as
realtime-py sends them, see shared/reference/realtime_protocol.md §1.3) over a raw aiohttp
WebSocket rather than through realtime-py, whose per-frame pydantic parsing would make
the generator, not the stack, the thing measured. Commands (see `child`): join, count,
take, leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from gateway.loop import run
from ops.bench import child
from ops.bench.clients import read_json_frames

HEARTBEAT_SECONDS = 20.0  # Realtime closes a socket silent for 60 s
JOIN_TIMEOUT_SECONDS = 30.0
HEARTBEAT = '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":null}'


def _config(shape: str) -> dict[str, Any]:
    changes = [{"event": "INSERT", "schema": "public", "table": "messages"}]
    return {
        "broadcast": {"ack": False, "self": False},
        "presence": {"key": "", "enabled": False},
        "private": shape == "broadcast",
        "postgres_changes": changes if shape == "changes" else [],
    }


class Subscriber:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received: list[tuple[str, float]] = []  # (client_msg_id, received at)
        self.other: dict[str, int] = {}
        self._refs = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._subscribed: asyncio.Future[dict[str, Any]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self, url: str, key: str, shape: str, topics: list[str]) -> dict[str, Any]:
        """Connect to `<url>/realtime/v1/websocket` and join; return once every join is
        answered (and, for changes, the subscription confirmed)."""
        began = time.monotonic()
        socket_url = f"{url.replace('http', 'ws', 1)}/realtime/v1/websocket"
        self.ws = await self.http.ws_connect(socket_url, params={"apikey": key, "vsn": "1.0.0"})
        self._subscribed = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]
        names = topics if shape == "broadcast" else ["bench-shapes"]
        payload = {"config": _config(shape), "access_token": key}
        replies = await asyncio.wait_for(
            asyncio.gather(*(self._push(f"realtime:{t}", "phx_join", payload) for t in names)),
            JOIN_TIMEOUT_SECONDS,
        )
        refused = [r for r in replies if r.get("status") != "ok"]
        if refused:
            raise RuntimeError(f"join refused: {refused[0]}")
        if shape == "changes":
            system = await asyncio.wait_for(self._subscribed, JOIN_TIMEOUT_SECONDS)
            if system.get("status") != "ok":
                raise RuntimeError(f"postgres_changes refused: {system.get('message')}")
        return {"channels": len(names), "join_s": round(time.monotonic() - began, 3)}

    async def _push(self, topic: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        ref = str(next(self._refs))
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = reply
        frame = {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}
        await self.ws.send_str(json.dumps(frame))
        return await reply

    async def _beat(self) -> None:
        assert self.ws is not None
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.ws.send_str(HEARTBEAT)

    async def _read(self) -> None:
        assert self.ws is not None
        await read_json_frames(self.ws, self._on_frame)

    def _on_frame(self, frame: dict[str, Any], at: float) -> None:
        event, payload = frame.get("event"), frame.get("payload") or {}
        if event == "broadcast" and payload.get("event") == "message":
            self.received.append((payload["payload"]["client_msg_id"], at))
        elif event == "postgres_changes":
            self.received.append((payload["data"]["record"]["client_msg_id"], at))
        elif event == "phx_reply" and (waiter := self._waiting.pop(frame.get("ref") or "", None)):
            waiter.set_result(payload)
        elif event == "system" and self._subscribed and not self._subscribed.done():
            self._subscribed.set_result(payload)
        else:
            self.other[str(event)] = self.other.get(str(event), 0) + 1

    async def count(self) -> dict[str, Any]:
        return {"received": len(self.received)}

    async def take(self) -> dict[str, Any]:
        """Everything received so far (then forgotten) and the other frames by event."""
        received, self.received = self.received, []
        other, self.other = self.other, {}
        return {"received": received, "other": other}

    async def leave(self) -> dict[str, Any]:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ws is not None:
            with contextlib.suppress(OSError, aiohttp.ClientError):
                await self.ws.close()
        self.ws, self._tasks, self._waiting = None, [], {}
        return {}


async def _serve(conn: Connection) -> None:
    async with aiohttp.ClientSession() as http:
        subscriber = Subscriber(http)
        try:
            await child.serve(conn, subscriber, "subscriber")
        finally:
            await subscriber.leave()


def subscriber_main(conn: Connection) -> None:
    """Entry point of the subscriber process (multiprocessing, spawn)."""
    child.enter()
    run(_serve(conn))
