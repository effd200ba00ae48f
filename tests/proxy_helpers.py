"""A reverse proxy in front of the embedded stack whose Realtime leg can be cut and held,
and whose Data API paths can be made to fail.

A fault injector (like toxiproxy), not a stand-in: HTTP requests and WebSocket frames are
forwarded unchanged to the real stack. `cut()` drops the proxied Realtime sockets and
makes new Realtime upgrades wait until `release()`; the Data API and Auth keep working.
`refuse(path)` answers requests for that path as Supabase's API gateway does when the
Data API behind it does not answer in time (504) until `restore()`; `hold(path)` forwards
them but keeps their answers until `restore()`; every other request is forwarded.
(Not a 503: postgrest-py retries GETs on 503 for up to 7 s by itself.) `requests` counts
the requests per path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

REALTIME_PATH = "/realtime/v1/websocket"
START_POINTS_PATH = "/rest/v1/rpc/gateway_start_points"  # start points, many users a call
HISTORY_PATH = "/rest/v1/messages"  # the gateway Store's message history
_TIMED_OUT = {"message": "The upstream server is timing out"}
_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class HoldingProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.url = ""
        self._open = asyncio.Event()
        self._open.set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._refused_paths: set[str] = set()
        self.refused = asyncio.Event()  # set once a request was answered with a failure
        self._held_paths: set[str] = set()
        self._delays: dict[str, float] = {}  # path → seconds each answer is late
        self.holding = asyncio.Event()  # set once an answer is being held
        self._unheld = asyncio.Event()
        self.requests: Counter[str] = Counter()
        self._http = aiohttp.ClientSession(auto_decompress=False)

    async def cut(self) -> None:
        """Realtime becomes unreachable: live sockets drop, new upgrades wait."""
        self._open.clear()
        await asyncio.gather(*(ws.close(code=1001) for ws in list(self._sockets)))

    def release(self) -> None:
        self._open.set()

    def refuse(self, path: str) -> None:
        """Requests for `path` fail with 504 until `restore()`."""
        self._refused_paths.add(path)

    def hold(self, path: str) -> None:
        """Requests for `path` reach the stack; their answers wait until `restore()`."""
        self._held_paths.add(path)
        self._unheld.clear()

    def slow(self, path: str, seconds: float) -> None:
        """Answers for `path` arrive `seconds` late (a slow Data API) until `restore()`."""
        self._delays[path] = seconds

    def restore(self) -> None:
        self._delays.clear()
        self._refused_paths.clear()
        self._held_paths.clear()
        self._unheld.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(REALTIME_PATH, self._realtime)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def _forward(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        if request.path in self._refused_paths:
            self.refused.set()
            return web.json_response(_TIMED_OUT, status=504)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._http.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            if delay := self._delays.get(request.path):
                await asyncio.sleep(delay)  # simulated latency, not a wait for an event
            if request.path in self._held_paths:
                self.holding.set()
                await self._unheld.wait()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=upstream.status, headers=out, body=body)

    async def _realtime(self, request: web.Request) -> web.WebSocketResponse:
        await self._open.wait()
        upstream = await self._http.ws_connect(self.target + request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await _pump_both(ws, upstream)
        finally:
            self._sockets.discard(ws)
            await upstream.close()
            await ws.close()
        return ws

    async def close(self) -> None:
        self.release()
        await self._http.close()


async def _pump_both(
    client: web.WebSocketResponse, server: aiohttp.ClientWebSocketResponse
) -> None:
    async def pump(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    ) -> None:
        async for msg in source:
            if msg.type == WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await sink.send_bytes(msg.data)

    legs = [asyncio.create_task(pump(client, server)), asyncio.create_task(pump(server, client))]
    try:
        await asyncio.wait(legs, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for leg in legs:
            leg.cancel()
        await asyncio.gather(*legs, return_exceptions=True)


@asynccontextmanager
async def holding_proxy(target: str) -> AsyncIterator[HoldingProxy]:
    proxy = HoldingProxy(target)
    server = TestServer(proxy.app(), host="127.0.0.1", port=0)
    await server.start_server()
    proxy.url = str(server.make_url("")).rstrip("/")
    try:
        yield proxy
    finally:
        await proxy.close()
        await server.close()
