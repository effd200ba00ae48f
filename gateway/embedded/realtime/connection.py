"""One client socket: its serializer, its joined channels, and its outgoing queue and writer.

Everything that wants to reach the client calls `send`, which only enqueues; the socket's
own writer task does the I/O. A full queue means the client cannot keep up: it is
disconnected (1013) instead of slowing down the fan-out for everybody else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.embedded.appkeys import EmbeddedContext
from gateway.embedded.realtime.serializer import Frame, Ref, Serializer

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel
    from gateway.embedded.realtime.hub import Hub

log = logging.getLogger(__name__)

SLOW_CONSUMER = WSCloseCode.TRY_AGAIN_LATER
CLOSE_TIMEOUT = 2.0  # a client that cannot take the close frame is cut off after this


class Connection:
    """A connected, authenticated Realtime socket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        serializer: Serializer,
        hub: Hub,
        context: EmbeddedContext,
        *,
        tenant_token: str,
        x_headers: dict[str, str],
    ) -> None:
        self.ws = ws
        self._transport = transport
        self.serializer = serializer
        self.hub = hub
        self.context = context
        self.tenant_token = tenant_token  # the API key's JWT, used when a join sends none
        self.x_headers = x_headers  # the upgrade's x-* headers, `request.headers` in RLS
        self.channels: dict[str, Channel] = {}
        self.closing = False
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(hub.settings.outgoing_queue_max)
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    # Outgoing --------------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        if self.closing:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("disconnecting a slow client: %d frames queued", self._queue.qsize())
            self.closing = True
            self.hub.spawn(self.close(SLOW_CONSUMER, b"slow consumer"))

    def reply(self, join_ref: Ref, ref: Ref, topic: str, status: str, response: Any) -> None:
        self.send(self.serializer.reply(join_ref, ref, topic, status, response))

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                frame = await self._queue.get()
                opcode = WSMsgType.BINARY if frame.binary else WSMsgType.TEXT
                await ws.send_frame(frame.data, opcode)
                self._queue.task_done()
        except (ConnectionError, RuntimeError) as exc:
            log.debug("writer stopped: %s", exc.__class__.__name__)
        except Exception:
            log.exception("writer failed")
        finally:
            self.closing = True

    # Ending ----------------------------------------------------------------------------

    async def close_when_sent(self, code: int, message: bytes = b"") -> None:
        """Close once what is queued has been written (a last reply the client must see)."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._queue.join()
        except TimeoutError:
            pass  # the client is not reading: close anyway
        await self.close(code, message)

    async def close(self, code: int, message: bytes = b"") -> None:
        """Close the socket now, dropping what is still queued; the read loop then ends."""
        await self.finish()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            # Its buffers are full (the slow-consumer case): drop the TCP connection.
            if self._transport is not None:
                self._transport.abort()

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def finish(self) -> None:
        """End the channels silently (their presence leaves at once) and stop writing."""
        self.closing = True
        for channel in list(self.channels.values()):
            channel.close(notify_client=False)
        await self._stop_writer()
