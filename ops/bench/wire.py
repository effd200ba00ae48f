"""A lean WebSocket client (RFC 6455, client side) for the load generator.

Why not aiohttp's or websockets' client: on the benchmark's 2 shared cores the generator's
own cost per connect competes with the gateway it measures. Measured on this machine,
2,000 connects at 200 at a time, client CPU per connect: aiohttp ~1,300 µs (most of it in
its connector and aiohappyeyeballs), websockets ~880 µs, this client ~150 µs. It does only
what the benchmark needs: one text-frame stream, answered pings, a clean close.

Frames are handed to `on_text` from `data_received`, stamped with `time.monotonic()` as they
arrive, so latency is not inflated by a reader task's scheduling. Writes are not awaited (the
generator is open-loop; the gateway reads as fast as it can), but a paused transport
(`pause_writing`) makes `send_text` wait, as a drained writer would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

__all__ = ["HandshakeError", "WireSocket", "open_socket"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
_HEAD_MAX = 16 * 1024
_FRAME_MAX = 16 * 1024 * 1024
CLOSE_WAIT_SECONDS = 2.0


class HandshakeError(ConnectionError):
    """The server did not switch protocols (its status line says why)."""


def _mask(payload: bytes) -> bytes:
    """The payload XORed with a fresh 4-byte key, key first (clients must mask, §5.3)."""
    key = os.urandom(4)
    n = len(payload)
    if n == 0:
        return key
    stream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return key + masked.to_bytes(n, "big")


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _mask(payload)


class WireSocket(asyncio.Protocol):
    """One client socket. `closed` resolves when the connection is gone; `close_code` is
    the code of the server's close frame, if it sent one."""

    def __init__(self, request: bytes, key: str, on_text: Callable[[str, float], None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._request = request
        self._accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        self._on_text = on_text
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._writable: asyncio.Future[None] | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self._closing = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            if not self.opened.done() and not self._handshake():
                return
            self._frames()
        except ConnectionError as err:
            if not self.opened.done():
                self.opened.set_exception(err)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- parsing -------------------------------------------------------------------------

    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _HEAD_MAX:
                raise HandshakeError("response head too large")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise HandshakeError(f"server answered {head[0]!r}")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in head[1:])
        )
        if headers.get("sec-websocket-accept") != self._accept:
            raise HandshakeError("wrong Sec-WebSocket-Accept")
        self.opened.set_result(None)
        return True

    def _frames(self) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            if b1 & 0x80:
                raise ConnectionError("server frames must not be masked")
            n, at = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if n > _FRAME_MAX:
                raise ConnectionError("frame too large")
            if len(buf) < at + n:
                return
            payload = bytes(buf[at : at + n])
            del buf[: at + n]
            self._frame(b0 & 0x80 != 0, b0 & 0x0F, payload)

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode in (_TEXT, _BINARY, _CONTINUATION):
            if opcode != _CONTINUATION:
                self._fragments = [] if opcode == _TEXT else None
            if self._fragments is not None:
                self._fragments.append(payload)
                if fin:
                    text = b"".join(self._fragments).decode()
                    self._fragments = None
                    self._on_text(text, time.monotonic())
        elif opcode == _PING:
            self._write(_frame(_PONG, payload))
        elif opcode == _CLOSE:
            if len(payload) >= 2:
                self.close_code = struct.unpack_from("!H", payload)[0]
            if not self._closing:
                self._closing = True
                self._write(_frame(_CLOSE, payload[:2]))
            if self._transport is not None:
                self._transport.close()

    # -- use -----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    async def send_text(self, text: str) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("socket closed")
        if self._writable is not None:
            await self._writable
        self._write(_frame(_TEXT, text.encode()))

    async def close(self, code: int = 1000) -> None:
        """Send a close frame and wait (briefly) for the server to end the connection."""
        if not self._closing and self._transport is not None:
            self._closing = True
            self._write(_frame(_CLOSE, struct.pack("!H", code)))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def open_socket(
    url: str, on_text: Callable[[str, float], None], headers: dict[str, str] | None = None
) -> WireSocket:
    """Connect to a ws:// or wss:// URL (query included) and finish the handshake."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or parts.hostname is None:
        raise ValueError(f"not a WebSocket URL: {url}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(
        lambda: WireSocket(request, key, on_text),
        parts.hostname,
        port,
        ssl=ssl.create_default_context() if secure else None,
    )
    try:
        await sock.opened
    except BaseException:
        sock.abort()
        raise
    return sock
