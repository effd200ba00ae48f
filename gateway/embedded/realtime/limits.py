"""Supabase Realtime's tenant quotas; the embedded server is one tenant.

- Concurrent users: sockets that have joined a channel, counted from their first join until
  they disconnect (UsersCounter). At the limit, new sockets get HTTP 429 "Too many
  connected users" and uncounted sockets' joins `ConnectionRateLimitReached: ...`.
- Joins per second: each join that passes the user check counts; while the rate is tripped,
  upgrades get 429 "Too many joins per second" and joins `ClientJoinRateLimitReached: Too
  many joins per second`, after which the socket is disconnected.
- Messages per second: client broadcasts, REST broadcasts and every message delivered to a
  channel count; a channel that receives a message while the rate is tripped is shut down
  with "Too many messages per second". REST broadcasts over it get 429.
- Presence messages per second: each track, each `presence_state` and each delivered
  `presence_diff` count; a track or a join's `presence_state` while the average is over the
  limit shuts the channel down with "Too many presence messages per second".

Rates are Supabase's RateCounter averages (`rate_counter`), so short bursts pass.
(lib/realtime_web/channels/{realtime_channel,user_socket,tenant_rate_limiters}.ex,
realtime_channel/{presence_handler,message_dispatcher}.ex, tenants/{single,batch}_broadcast.ex)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.embedded.realtime.rate_counter import RateCounter
from gateway.embedded.realtime.settings import RealtimeSettings

if TYPE_CHECKING:
    from gateway.embedded.realtime.connection import Connection

__all__ = ["TenantLimits"]

TOO_MANY_USERS = "Too many connected users"
TOO_MANY_JOINS = "Too many joins per second"
TOO_MANY_MESSAGES = "Too many messages per second"
TOO_MANY_PRESENCE = "Too many presence messages per second"
REST_RATE_EXCEEDED = "You have exceeded your rate limit"
REST_BATCH_TOO_BIG = "Too many messages to broadcast, please reduce the batch size"
USERS_CODE = "ConnectionRateLimitReached"
JOINS_CODE = "ClientJoinRateLimitReached"


class TenantLimits:
    """The quota counters of one Realtime server, built from its settings."""

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings

        def counter(limit: int) -> RateCounter:
            return RateCounter(
                limit,
                tick_seconds=settings.rate_tick_seconds,
                buckets=settings.rate_buckets,
                idle_seconds=settings.rate_idle_seconds,
            )

        self.joins = counter(settings.max_joins_per_second)
        self.events = counter(settings.max_events_per_second)
        self.presence = counter(settings.max_presence_events_per_second)
        self._users: set[Connection] = set()

    # Sockets and joins -----------------------------------------------------------------

    def upgrade_refusal(self) -> str | None:
        """Why a new socket is refused (HTTP 429), or None."""
        if len(self._users) >= self.settings.max_concurrent_users:
            return TOO_MANY_USERS
        if self.joins.triggered:
            return TOO_MANY_JOINS
        return None

    def join_refusal(self, conn: Connection) -> tuple[str, str] | None:
        """(code, message) refusing this socket's join, or None once the join is counted."""
        counted = conn in self._users
        if not counted and len(self._users) >= self.settings.max_concurrent_users:
            return USERS_CODE, TOO_MANY_USERS
        if self.joins.triggered:
            return JOINS_CODE, TOO_MANY_JOINS
        self.joins.add()
        return None

    def joined(self, conn: Connection) -> None:
        self._users.add(conn)

    def disconnected(self, conn: Connection) -> None:
        self._users.discard(conn)

    @property
    def users(self) -> int:
        return len(self._users)

    # Messages --------------------------------------------------------------------------

    def delivered(self, count: int) -> bool:
        """`count` messages reached channels; True when those channels must shut down."""
        if count:
            self.events.add(count)
        return count > 0 and self.events.triggered

    def rest_refusal(self, batch: int | None = None) -> str | None:
        """Why a REST broadcast (`batch` messages, or a single one) is refused, or None."""
        avg = self.events.avg
        limit = self.settings.max_events_per_second
        if batch is None:
            return REST_RATE_EXCEEDED if avg >= limit else None
        if avg > limit:
            return REST_RATE_EXCEEDED
        if batch + avg > limit:
            return REST_BATCH_TOO_BIG
        return None

    # Presence --------------------------------------------------------------------------

    def presence_allowed(self) -> bool:
        """A track or presence_state: refused while the average is over the limit, else counted."""
        if self.presence.avg > self.settings.max_presence_events_per_second:
            return False
        self.presence.add()
        return True
