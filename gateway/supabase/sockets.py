"""The gateway's supervised Realtime sockets, as one pool: opened for the delivery feed
and the presence shards, counted for health and metrics, closed together.

Joins of every socket share one pacer (Supabase limits channel joins per second per
project), so reconnecting all sockets at once is no join storm. The gateway holds a fixed
number of sockets and channels, whatever the number of online users.
"""

from __future__ import annotations

import asyncio
import itertools

from gateway.supabase.realtime_socket import JoinPacer, UpstreamSocket

__all__ = ["RealtimeSockets"]


class RealtimeSockets:
    def __init__(
        self,
        realtime_url: str,
        service_key: str,
        *,
        gateway_id: str,
        max_joins_per_second: float,
        probe_interval_seconds: float = 10.0,
        probe_timeout_seconds: float = 5.0,
    ) -> None:
        self.url = realtime_url
        self.key = service_key
        self.gateway_id = gateway_id
        self._pacer = JoinPacer(max_joins_per_second)
        self._probe = (probe_interval_seconds, probe_timeout_seconds)
        self._numbers = itertools.count()
        self._sockets: list[UpstreamSocket] = []

    def open_socket(self) -> UpstreamSocket:
        """A started socket, supervised (probed, replaced when it fails, its channels
        rejoined), counted in `healthy` and the metrics until `close_socket` or `close`."""
        interval, timeout = self._probe
        sock = UpstreamSocket(
            self.url,
            self.key,
            control_topic=f"gateway:{self.gateway_id}:{next(self._numbers)}",
            pacer=self._pacer,
            probe_interval_seconds=interval,
            probe_timeout_seconds=timeout,
        )
        sock.start()
        self._sockets.append(sock)
        return sock

    async def close_socket(self, sock: UpstreamSocket) -> None:
        if sock in self._sockets:
            self._sockets.remove(sock)
        await sock.close()

    async def close(self) -> None:
        sockets, self._sockets = self._sockets, []
        await asyncio.gather(*(sock.close() for sock in sockets))

    @property
    def healthy(self) -> bool:
        return bool(self._sockets) and all(sock.healthy for sock in self._sockets)

    def socket_count(self) -> int:
        return len(self._sockets)

    def channel_count(self) -> int:
        """Channels subscribed on every socket (control channels not counted)."""
        return sum(sock.subscribed_count() for sock in self._sockets)
