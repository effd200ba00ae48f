"""`config.broadcast.replication_ready`: tell a channel once the replication connection is up.

A channel that opts in gets one `system` push, extension `system`, status `ok`, message
"Replication connection established", once the change feed (the embedded stack's WAL
stream, its replication connection) runs; it is checked at once after the join reply and then
every 0.5 s. If it is not up within `replication_ready_timeout_seconds` (Supabase: one
minute), the channel is shut down with "Replication connection was not established in time".
As supabase/realtime lib/realtime_web/channels/realtime_channel.ex `:notify_replication_ready`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.embedded.realtime.channel import Channel

READY = "Replication connection established"
NOT_IN_TIME = "Replication connection was not established in time"
CHECK_INTERVAL_SECONDS = 0.5  # Supabase's @replication_ready_check_interval


class ReplicationProbe(Protocol):
    """Whether the replication connection behind Realtime is up (cdc.health.FeedStatus)."""

    def running(self) -> bool: ...


class NoReplication:
    """The probe until the change feed wires its own: never up."""

    def running(self) -> bool:
        return False


def notify_when_ready(channel: Channel) -> None:
    """Push the ready message now if the feed runs, else poll for it in a hub-owned task."""
    if _notified(channel):
        return
    hub = channel.socket.hub
    deadline = asyncio.get_running_loop().time() + hub.settings.replication_ready_timeout_seconds
    hub.spawn(_poll(channel, deadline))


def _notified(channel: Channel) -> bool:
    if channel.closed:
        return True
    if channel.socket.hub.replication.running():
        channel.push_system("system", "ok", READY)
        return True
    return False


async def _poll(channel: Channel, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(min(CHECK_INTERVAL_SECONDS, max(deadline - loop.time(), 0.0)))
        if _notified(channel):
            return
        if loop.time() >= deadline:
            channel.shutdown(NOT_IN_TIME)
            return
