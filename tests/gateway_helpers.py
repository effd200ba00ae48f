"""Fixtures and clients for gateway tests: a real gateway (create_app) on 127.0.0.1:0 in
front of the real embedded stack, users signed up through the real Auth API, and
WebSocket clients that wait on frames with deadlines."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from gateway.api.listen import HeaderTimeoutSite
from gateway.app import create_app
from gateway.config import Config, build_config
from tests.conftest import EmbeddedStack

PASSWORD = "correct-horse-battery"
WAIT = 10.0  # deadline for anything that should arrive
QUIET = 0.5  # how long "nothing arrives" is watched
METRICS_TOKEN = "test-metrics-token-0123456789"  # gateways in tests serve /metrics with it


@dataclass
class User:
    id: str
    email: str
    token: str


@dataclass
class Gateway:
    url: str
    config: Config
    embedded: EmbeddedStack
    runner: web.AppRunner

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1)


def gateway_config(embedded: EmbeddedStack, **sections: dict[str, Any]) -> Config:
    data: dict[str, Any] = {
        "supabase": {
            "url": embedded.url,
            "anon_key": embedded.anon_key,
            "service_key": embedded.service_key,
        },
        "auth": {"jwt_secret": embedded.config.jwt_secret},
        "server": {"metrics_token": METRICS_TOKEN},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return build_config(data)


@asynccontextmanager
async def running_gateway(config: Config, embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    """The gateway served as `python -m gateway` serves it (its own listening site, with
    the request-head deadline), on 127.0.0.1 and a free port."""
    runner = web.AppRunner(create_app(config), handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = HeaderTimeoutSite(
            runner, "127.0.0.1", 0, header_timeout=config.server.header_timeout_seconds
        )
        await site.start()
        port = runner.addresses[0][1]
        yield Gateway(f"http://127.0.0.1:{port}", config, embedded, runner)
    finally:
        await runner.cleanup()


async def sign_up(embedded: EmbeddedStack, email: str | None = None) -> User:
    """A new user through the embedded Auth API (as supabase-js/py would)."""
    email = email or f"u-{uuid.uuid4().hex[:10]}@example.test"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{embedded.url}/auth/v1/signup",
            json={"email": email, "password": PASSWORD},
            headers={"apikey": embedded.anon_key},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        session = await resp.json()
    return User(session["user"]["id"], email, session["access_token"])


async def admin_user(embedded: EmbeddedStack) -> User:
    """A new user through the Auth admin API (service key: no sign-up rate limit), with an
    access token signed like Auth's own."""
    email = f"a-{uuid.uuid4().hex[:10]}@example.test"
    headers = {"apikey": embedded.service_key, "Authorization": f"Bearer {embedded.service_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{embedded.url}/auth/v1/admin/users",
            json={"email": email, "password": PASSWORD, "email_confirm": True},
            headers=headers,
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        created = await resp.json()
    user = User(created["id"], email, "")
    return User(user.id, email, token_for(embedded, user, expires_in=3600))


def token_for(embedded: EmbeddedStack, user: User, *, expires_in: float) -> str:
    """A token for `user` expiring soon (signed like Auth's own)."""
    now = int(time.time())
    return embedded.keys.sign(
        {
            "sub": user.id,
            "role": "authenticated",
            "aud": "authenticated",
            "iat": now,
            "exp": now + int(expires_in),
            "email": user.email,
        }
    )


class Client:
    """A WebSocket client that waits for frames by type, with deadlines."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.live = asyncio.Event()  # the gateway said `ready`
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if frame.get("type") == "ready":
                    self.live.set()
                await self.frames.put(frame)
        self.closed.set()

    async def ready(self, timeout: float = WAIT) -> None:
        """Until the socket's live stream is on (`ready`) or the gateway closed it."""
        live = asyncio.ensure_future(self.live.wait())
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({live, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            live.cancel()
            closed.cancel()
        if not (self.live.is_set() or self.closed.is_set()):
            raise TimeoutError("no ready frame")

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def next(self, kind: str | None = None, timeout: float = WAIT) -> dict[str, Any]:
        """The next frame (of `kind`, skipping presence/typing/read frames of other kinds)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await asyncio.wait_for(self.frames.get(), max(remaining, 0.001))
            if kind is None or frame.get("type") == kind:
                return frame
            if kind != "error" and frame.get("type") == "error":
                raise AssertionError(f"unexpected error frame {frame}")

    async def messages(self, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        return [(await self.next("message", timeout))["message"] for _ in range(count)]

    async def nothing(self, kind: str, quiet: float = QUIET) -> None:
        """No frame of `kind` arrives within `quiet` seconds."""
        try:
            frame = await self.next(kind, quiet)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {kind} frame: {frame}")

    async def wait_closed(self, timeout: float = WAIT) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


@asynccontextmanager
async def connect(
    gateway: Gateway,
    path: str = "/ws",
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    live: bool = True,
) -> AsyncIterator[Client]:
    """A socket authenticated by `token` or `headers`; with `live`, once the gateway said
    `ready` (or closed it) — typing/read/presence frames flow only from there."""
    params = dict(query or {})
    if token is not None:
        params["token"] = token
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(gateway.ws_url + path, params=params, headers=headers)
        client = Client(ws)
        try:
            if live and (token is not None or "Authorization" in (headers or {})):
                await client.ready()
            yield client
        finally:
            await client.close()


async def api(
    gateway: Gateway,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    data: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            gateway.url + path,
            json=json_body,
            data=data,
            headers=all_headers,
            params=params,
        ) as resp,
    ):
        body = await resp.text()
        try:
            return resp.status, json.loads(body)
        except ValueError:
            return resp.status, body


async def metrics(gw: Gateway) -> str:
    """The gateway's /metrics text (asked with its bearer token)."""
    status, text = await api(gw, "GET", "/metrics", token=gw.config.server.metrics_token)
    assert status == 200, text
    assert isinstance(text, str)
    return text


async def until_ready(gw: Gateway, ready: bool = True, timeout: float = WAIT) -> dict[str, Any]:
    """Poll /readyz until it answers ready (200) or not (503); returns its body."""

    async def poll() -> dict[str, Any]:
        while True:
            status, answer = await api(gw, "GET", "/readyz")
            if (status == 200) == ready:
                result: dict[str, Any] = answer
                return result
            await asyncio.sleep(0.05)  # polling an HTTP endpoint: no event to wait on

    return await asyncio.wait_for(poll(), timeout)


async def rest_send(gw: Gateway, sender: User, to: User, text: str) -> dict[str, Any]:
    """POST /api/chat/{to}/send as `sender`; the stored message (201 expected)."""
    status, answer = await api(
        gw, "POST", f"/api/chat/{to.id}/send", token=sender.token, json_body={"message_text": text}
    )
    assert status == 201, answer
    message: dict[str, Any] = answer["message"]
    return message
