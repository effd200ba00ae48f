"""The load generator's own WebSocket client (ops/bench/wire.py) against aiohttp's server
over a real socket: the benchmark's numbers are only as good as what this client reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import WSMsgType, web

from ops.bench.wire import HandshakeError, WireSocket, open_socket

BIG = "é" * 40_000  # 80,000 bytes: a 64-bit length field


class Server:
    """Answers `/ws` by sending BIG and a ping, then echoes text frames; `/refuse` is 401."""

    def __init__(self) -> None:
        self.pongs: asyncio.Queue[bytes] = asyncio.Queue()
        self.received: asyncio.Queue[str] = asyncio.Queue()
        self.close_with = 4001

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await ws.send_str(BIG)
        await ws.ping(b"are-you-there")
        async for msg in ws:
            if msg.type is WSMsgType.PONG:
                self.pongs.put_nowait(msg.data)
            elif msg.type is WSMsgType.TEXT:
                self.received.put_nowait(msg.data)
                if msg.data == "bye":
                    await ws.close(code=self.close_with, message=b"done")
                else:
                    await ws.send_str(f"echo:{msg.data}")
        return ws

    async def refuse(self, request: web.Request) -> web.Response:
        return web.Response(status=401, text="no")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/ws", srv.ws)
    app.router.add_get("/refuse", srv.refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield srv, f"ws://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def collector() -> tuple[asyncio.Queue[str], Callable[[str, float], None]]:
    frames: asyncio.Queue[str] = asyncio.Queue()
    return frames, lambda text, _at: frames.put_nowait(text)


async def test_frames_of_every_length_arrive_whole_and_pings_are_answered(
    server: tuple[Server, str],
) -> None:
    srv, base = server
    frames, on_text = collector()
    sock = await open_socket(f"{base}/ws?token=a%20b", on_text)
    async with asyncio.timeout(5):
        assert await frames.get() == BIG
        assert await srv.pongs.get() == b"are-you-there"
        for text in ("x", "y" * 300, "z" * 70_000):  # 7-bit, 16-bit and 64-bit lengths
            await sock.send_text(text)
            assert await srv.received.get() == text
            assert await frames.get() == f"echo:{text}"
        await sock.close()


async def test_a_server_close_is_seen_with_its_code(server: tuple[Server, str]) -> None:
    _, base = server
    _, on_text = collector()
    sock = await open_socket(f"{base}/ws", on_text)
    await sock.send_text("bye")
    async with asyncio.timeout(5):
        await sock.closed
    assert sock.close_code == 4001
    with pytest.raises(ConnectionError):
        await sock.send_text("after close")


async def test_a_client_close_ends_the_connection(server: tuple[Server, str]) -> None:
    _, base = server
    _, on_text = collector()
    sock: WireSocket = await open_socket(f"{base}/ws", on_text)
    async with asyncio.timeout(5):
        await sock.close()
    assert sock.closed.done()


async def test_a_refused_upgrade_raises_with_the_status(server: tuple[Server, str]) -> None:
    _, base = server
    _, on_text = collector()
    with pytest.raises(HandshakeError, match="401"):
        await open_socket(f"{base}/refuse", on_text)
