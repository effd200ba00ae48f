"""The Data API's HTTP/1.1 pool against real servers on 127.0.0.1: connections are kept
and reused, bodies of every framing arrive whole, the pool stays within its size, and a
broken, silent or closing server fails the request without poisoning the next one."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.supabase.http11 import HttpPool

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


async def raw_server(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_sequential_requests_share_one_connection_and_carry_their_own_headers(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    peers: list[object] = []
    seen: list[tuple[str, str, str | None, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        seen.append(
            (request.method, request.raw_path, request.headers.get("X-Who"), await request.read())
        )
        return web.json_response({"n": len(seen)})

    pool = HttpPool(await serve(handler))
    try:
        first = await pool.request("POST", "/rpc/f?a=1%202", {"X-Who": "alice"}, b'{"x":1}')
        second = await pool.request("GET", "/chats?select=id", {"X-Who": "bob"})
    finally:
        await pool.close()
    assert (first.status, first.body, second.body) == (200, b'{"n": 1}', b'{"n": 2}')
    assert seen == [
        ("POST", "/rpc/f?a=1%202", "alice", b'{"x":1}'),
        ("GET", "/chats?select=id", "bob", b""),
    ]
    assert peers[0] == peers[1]  # kept alive and reused


async def test_chunked_and_gzip_answers_arrive_whole(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/gzip":
            return web.Response(
                body=gzip.compress(b"[1,2,3]"), headers={"Content-Encoding": "gzip"}
            )
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"[", b"1,", b"2", b"]"):
            await response.write(part)
        await response.write_eof()
        return response

    pool = HttpPool(await serve(handler))
    try:
        chunked = await pool.request("GET", "/chunked", {})
        zipped = await pool.request("GET", "/gzip", {})
    finally:
        await pool.close()
    assert (chunked.body, zipped.body) == (b"[1,2]", b"[1,2,3]")


async def test_requests_beyond_the_pool_size_wait_for_a_free_connection(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    open_now, most = 0, 0
    release, two_open = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        if open_now == 2:
            two_open.set()
        await release.wait()
        open_now -= 1
        return web.Response(text="ok")

    pool = HttpPool(await serve(handler), connections=2)
    try:
        calls = [asyncio.ensure_future(pool.request("GET", f"/{i}", {})) for i in range(6)]
        await asyncio.wait_for(two_open.wait(), 5)
        release.set()
        answers = await asyncio.gather(*calls)
    finally:
        await pool.close()
    assert [a.body for a in answers] == [b"ok"] * 6
    assert most == 2


async def test_a_silent_server_times_out_and_the_connection_is_not_reused() -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if connections == 1:
            await reader.read()  # never answers; returns when the client hangs up
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read()
        writer.close()

    server, origin = await raw_server(silent)
    pool = HttpPool(origin, timeout_seconds=0.2)
    try:
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/", {})
        answer = await pool.request("GET", "/", {})
    finally:
        await pool.close()
        server.close()
    assert answer.body == b"ok"
    assert connections == 2  # the timed-out connection was dropped, not reused


async def test_a_read_on_a_connection_the_server_closed_while_idle_is_repeated() -> None:
    """GET (a read) is repeated once on a fresh connection when a kept one turns out to
    be closed before any answer (a write is not: it fails, and its caller decides)."""
    connections = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive answer, then the server hangs up anyway

    server, origin = await raw_server(once)
    pool = HttpPool(origin)
    try:
        bodies = [(await pool.request("GET", "/", {})).body for _ in range(3)]
    finally:
        await pool.close()
        server.close()
    assert bodies == [b"ok"] * 3
    assert connections == 3


async def test_connection_close_and_a_malformed_answer() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    good, good_origin = await raw_server(answer)
    bad, bad_origin = await raw_server(garbage)
    pool, broken = HttpPool(good_origin), HttpPool(bad_origin)
    try:
        assert (await pool.request("GET", "/", {})).body == b"ok"
        assert (await pool.request("GET", "/", {})).body == b"ok"  # a fresh connection
        with pytest.raises(ConnectionError):
            await broken.request("GET", "/", {})
    finally:
        await pool.close()
        await broken.close()
        good.close()
        bad.close()


async def test_a_header_value_cannot_end_its_line() -> None:
    pool = HttpPool("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        await pool.request("GET", "/", {"Authorization": "Bearer x\r\nX-Role: service_role"})


async def test_an_unreachable_origin_fails_with_an_os_error() -> None:
    pool = HttpPool("http://127.0.0.1:9")
    with pytest.raises(OSError):
        await pool.request("GET", "/", {})
