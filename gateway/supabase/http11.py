"""A small HTTP/1.1 client for the gateway's Data API calls: a pool of keep-alive
connections to one origin, over asyncio protocols, answers parsed by httptools (the C
parser uvicorn runs on).

Why not aiohttp's client: every message the gateway stores is one Data API call, and
aiohttp's request machinery (tracing hooks, cookie and proxy handling, redirects,
per-request timers and response objects) measured ~310-440 µs of CPU per call on the
benchmark machine; this path measured ~60-70 µs on the same machine, same run. It does
only what those calls need: one request at a time per connection, `Content-Length`
bodies out, `Content-Length` or chunked bodies in, gzip if a proxy insists, TLS for
hosted projects, and a deadline per request.

A connection is reused only after a complete answer that allows it, never after an
error or a timeout, and not once it has been idle longer than `idle_seconds` (kept under
the usual server keep-alive timeouts, so a server rarely closes one just as a request
goes out). When one is found closed before any answer, a read (GET, HEAD) is repeated
once on a fresh connection; any other request fails like any lost connection and its
caller decides (sends are idempotent by client_msg_id).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools  # type: ignore[import-untyped]

__all__ = ["HttpPool", "Response"]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._chunks: list[bytes] = []
        self._gzip = False
        self.reusable = True
        self.idle_since = 0.0
        self.answered = False  # any byte of an answer to the current request arrived

    # asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.answered = True
        if self._waiter is None:  # nothing was asked: the stream cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(ConnectionError(f"malformed HTTP answer: {err}"))
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionError("unexpected protocol upgrade"))

    def eof_received(self) -> bool:
        self.reusable = False
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection lost"))

    # httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-encoding" and value.strip().lower() == b"gzip":
            self._gzip = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._chunks)
        if self._gzip:
            body = zlib.decompress(body, wbits=31)
        if not self._parser.should_keep_alive():
            self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._parser.get_status_code(), body))

    # Use -----------------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._chunks, self._gzip, self.answered = [], False, False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    def usable(self, now: float, idle_seconds: float) -> bool:
        return (
            self.reusable
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < idle_seconds
        )

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, err: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        self.close()


def _clean(value: str) -> str:
    """A header value or request target must not end the line it is on (header injection:
    a user's token travels in one)."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("a header value may not contain CR, LF or NUL")
    return value


class HttpPool:
    """Keep-alive connections to one origin (`http://` or `https://`), at most
    `connections` at a time; requests beyond that wait for one to come free."""

    def __init__(
        self,
        origin: str,
        *,
        connections: int = 200,
        timeout_seconds: float = 10.0,
        idle_seconds: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        default_port = self._port == (443 if self._ssl else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if default_port else f"{host}:{self._port}"
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []
        self._timeout = timeout_seconds
        self._idle_seconds = idle_seconds
        self._closed = False

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None = None
    ) -> Response:
        """Send one request (`target`: the path and query, already encoded); raises
        ConnectionError, TimeoutError or OSError if no complete answer arrives in time."""
        lines = [f"{method} {_clean(target)} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {_clean(value)}" for name, value in headers.items()]
        if body is not None or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data = head + body if body else head
        async with self._slots, asyncio.timeout(self._timeout):
            conn, reused = await self._connection()
            try:
                response = await self._send(conn, data)
            except ConnectionError:
                # A kept connection the server closed just as the request went out: the
                # server never answered. Safe to repeat only if repeating cannot change
                # anything; other requests fail, and their callers decide.
                if not (reused and not conn.answered and method in ("GET", "HEAD")):
                    raise
                conn, _ = await self._connection(fresh=True)
                response = await self._send(conn, data)
            self._release(conn)
            return response

    @staticmethod
    async def _send(conn: _Connection, data: bytes) -> Response:
        """The answer to one request on `conn`; a failed or abandoned one closes it."""
        try:
            return await conn.send(data)
        except BaseException:
            conn.close()
            raise

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def _connection(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A kept connection if one is usable (unless `fresh`), else a new one; and whether
        it was kept."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if conn.usable(now, self._idle_seconds):
                return conn, True
            conn.close()
        _, conn = await loop.create_connection(
            _Connection,
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl else None,
        )
        return conn, False

    def _release(self, conn: _Connection) -> None:
        if conn.reusable and not self._closed:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.close()
