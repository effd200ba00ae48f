"""The gateway's listening site: aiohttp's, plus a deadline on a connection's request head.

aiohttp's server has no header read timeout: a client that connects and sends nothing,
or trickles its request line and headers a byte at a time (slowloris), holds a
connection for as long as the keep-alive timeout (an hour by default). Here every new
connection must deliver its first request head (up to the blank line that ends the
headers) within `server.header_timeout_seconds`, as Go's `ReadHeaderTimeout` or hyper's
`header_read_timeout`, else it is closed. A thin protocol stands in front of aiohttp's
for that first head only, then hands the transport over to it (`set_protocol`): the
frames of a WebSocket and later requests pass without it. Later requests on a kept-alive
connection are bounded by `server.keepalive_timeout_seconds` (aiohttp's own timer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from aiohttp import web
from yarl import URL

__all__ = ["HeaderTimeoutSite"]

log = logging.getLogger(__name__)

END_OF_HEAD = b"\r\n\r\n"
BARE_END_OF_HEAD = b"\n\n"  # lenient parsers accept bare LF line ends: never cut those


class _HeadDeadline(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol; closes the connection if the first
    request head is not complete in time."""

    __slots__ = ("_handler", "_tail", "_timeout", "_timer", "_transport")

    def __init__(self, handler: asyncio.Protocol, timeout: float) -> None:
        self._handler = handler
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._tail = b""  # the last bytes seen, for a blank line split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout, self._expired)
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)
        if self._timer is None:
            return
        seen = self._tail + data
        if END_OF_HEAD in seen or BARE_END_OF_HEAD in seen:
            self._head_complete()
        else:
            self._tail = seen[-(len(END_OF_HEAD) - 1) :]

    def _head_complete(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._tail = b""
        if self._transport is not None:
            try:
                self._transport.set_protocol(self._handler)  # step out of the way
            except NotImplementedError:  # a transport that cannot: keep forwarding
                pass

    def _expired(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            log.info("closing a connection that sent no request head in time")
            self._transport.close()

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


class HeaderTimeoutSite(web.BaseSite):
    """A TCP site whose connections get `header_timeout` seconds for their first head."""

    __slots__ = ("_header_timeout", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_timeout: float,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._header_timeout = header_timeout

    @property
    def name(self) -> str:
        return str(URL.build(scheme="http", host=self._host, port=self._port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        factory: Callable[[], asyncio.Protocol] = server
        timeout = self._header_timeout

        def guarded() -> asyncio.Protocol:
            return _HeadDeadline(factory(), timeout)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            guarded, self._host, self._port, backlog=self._backlog
        )
        sockets = self._server.sockets
        if sockets:
            self._port = sockets[0].getsockname()[1]
