"""Helpers for the embedded Realtime tests: a stack with test-friendly settings, users and
tokens, realtime-py clients that fail fast, queues fed by sync callbacks, raw sockets."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from realtime import AsyncRealtimeClient, RealtimeChannelOptions
from realtime.types import RealtimeChannelPresenceConfig

from gateway.config import EmbeddedConfig
from gateway.embedded.appkeys import EmbeddedContext
from gateway.embedded.auth.ratelimit import AuthRateLimits, rate_limits_key
from gateway.embedded.db import create_pool
from gateway.embedded.keys import KeyRing
from gateway.embedded.realtime import Hub, RealtimeSettings, hub_key, settings_key
from gateway.embedded.server import create_embedded_app
from tests.conftest import EmbeddedStack

# No backoffs: a refused join or upgrade is answered at once.
FAST = RealtimeSettings(channel_error_backoff_seconds=0, connect_error_backoff_seconds=0)
DEADLINE = 5.0  # seconds to wait for something that must arrive
QUIET = 0.3  # seconds of silence that show something did not arrive


@dataclass
class RealtimeStack(EmbeddedStack):
    @property
    def hub(self) -> Hub:
        return self.app[hub_key]

    @property
    def realtime_url(self) -> str:
        return self.url + "/realtime/v1"

    def ws_url(
        self, *, apikey: str | None = None, vsn: str | None = None, path: str = "/realtime/v1"
    ) -> str:
        """The socket URL behind the API gateway; `path="/socket"` is Realtime's own path."""
        query = {"apikey": apikey if apikey is not None else self.anon_key}
        if vsn is not None:
            query["vsn"] = vsn
        return (
            self.url.replace("http://", "ws://")
            + f"{path}/websocket?"
            + "&".join(f"{k}={v}" for k, v in query.items())
        )


@asynccontextmanager
async def realtime_stack(
    database_url: str,
    tmp_path: Path,
    settings: RealtimeSettings = FAST,
    config: EmbeddedConfig | None = None,
    auth_limits: AuthRateLimits | None = None,
) -> AsyncIterator[RealtimeStack]:
    """The embedded API server, like conftest's `embedded`, with these Realtime settings
    (and these Auth rate limits instead of the configured ones)."""
    config = config or EmbeddedConfig()
    keys = KeyRing(config, tmp_path)
    pool = await create_pool(database_url)
    context = EmbeddedContext(config, keys, pool, database_url, tmp_path)
    app = create_embedded_app(context)
    app[settings_key] = settings
    if auth_limits is not None:
        app[rate_limits_key] = auth_limits
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        yield RealtimeStack(url, database_url, config, keys, context, app)
    finally:
        await server.close()
        await pool.close()


async def create_user(stack: EmbeddedStack, *, ttl: int = 3600) -> tuple[str, str]:
    """Insert a user into auth.users; return (uid, access token)."""
    uid = str(uuid.uuid4())
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "insert into auth.users (id, aud, role, email, created_at, updated_at)"
            " values ($1, 'authenticated', 'authenticated', $2, now(), now())",
            uuid.UUID(uid),
            f"{uid}@example.test",
        )
    finally:
        await conn.close()
    return uid, user_token(stack, uid, ttl=ttl)


def user_token(stack: EmbeddedStack, uid: str, *, ttl: int = 3600) -> str:
    return stack.keys.sign(
        {"sub": uid, "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + ttl}
    )


async def run_sql(stack: EmbeddedStack, sql: str) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def client(
    stack: RealtimeStack, token: str | None = None, *, apikey: str | None = None
) -> AsyncRealtimeClient:
    """realtime-py pointed at the stack as supabase-py sets it up: a project API key on the
    socket (the API gateway accepts nothing else), `token` as the channels' access token.
    One connection attempt, so refusals fail fast."""
    keys = (
        stack.anon_key,
        stack.service_key,
        stack.config.publishable_key,
        stack.config.secret_key,
    )
    if apikey is None:
        apikey = token if token in keys else stack.anon_key
    rt = AsyncRealtimeClient(stack.realtime_url, apikey, max_retries=1, initial_backoff=0.05)
    rt.access_token = token or apikey
    return rt


def options(
    *, private: bool = False, self_: bool = False, ack: bool = False, key: str | None = None
) -> RealtimeChannelOptions:
    """realtime-py channel params; `key` enables presence under that key."""
    presence = None if key is None else RealtimeChannelPresenceConfig(key=key, enabled=True)
    return {
        "config": {
            "broadcast": {"self": self_, "ack": ack},
            "presence": presence,
            "private": private,
        }
    }


def meta_values(presences: Any, name: str) -> list[Any]:
    """One field of each presence meta realtime-py holds."""
    return [dict(presence)[name] for presence in presences]


def collect(queue: asyncio.Queue[Any]) -> Callable[..., None]:
    """A sync callback (realtime-py calls them in its listen task) feeding a queue."""

    def callback(*args: Any) -> None:
        queue.put_nowait(args[0] if len(args) == 1 else args)

    return callback


async def next_item(queue: asyncio.Queue[Any], within: float = DEADLINE) -> Any:
    return await asyncio.wait_for(queue.get(), within)


async def nothing_arrives(queue: asyncio.Queue[Any], within: float = QUIET) -> bool:
    try:
        item = await asyncio.wait_for(queue.get(), within)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected item: {item!r}")


class RawSocket:
    """A bare aiohttp WebSocket client, for wire-level assertions."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws

    async def send(self, frame: Any) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, within: float = DEADLINE) -> Any:
        """The next frame: parsed JSON for text, raw bytes for binary."""
        msg = await self.ws.receive(timeout=within)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return msg.data
        raise AssertionError(f"socket ended: {msg.type} {msg.data!r}")

    async def silent(self, within: float = QUIET) -> bool:
        try:
            frame = await self.recv(within)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame: {frame!r}")

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


@asynccontextmanager
async def raw_socket(url: str, **options: Any) -> AsyncIterator[RawSocket]:
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(url, **options)
    except BaseException:
        await session.close()
        raise
    sock = RawSocket(session, ws)
    try:
        yield sock
    finally:
        await sock.close()


def v1(
    topic: str, event: str, payload: Any, ref: str | None, join_ref: str | None = None
) -> dict[str, Any]:
    return {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": join_ref}


def join_payload(**config: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "broadcast": {"ack": False, "self": False},
        "presence": {"key": "", "enabled": False},
        "postgres_changes": [],
        "private": False,
    }
    base.update(config)
    return {"config": base}


def user_broadcast_push(
    join_ref: str,
    ref: str,
    topic: str,
    event: str,
    payload: bytes,
    *,
    json: bool,
    meta: bytes = b"",
) -> bytes:
    """A kind-3 frame, as realtime-js sends `channel.send({type: "broadcast", ...})`."""
    fields = [part.encode() for part in (join_ref, ref, topic, event)] + [meta]
    head = bytes([3, *(len(f) for f in fields), 1 if json else 0])
    return head + b"".join(fields) + payload


def user_broadcast(
    topic: str, event: str, payload: bytes, *, json: bool, meta: bytes = b""
) -> bytes:
    """The kind-4 frame V2 subscribers get."""
    head = bytes([4, len(topic.encode()), len(event.encode()), len(meta), 1 if json else 0])
    return head + topic.encode() + event.encode() + meta + payload
