"""Limits and timeouts of the embedded Realtime server, with Supabase's defaults.

The tenant quotas default to Supabase's Free plan (docs guides/realtime/limits), where a
hosted project starts; `from_config` takes the user-configurable ones from the embedded
config. Set `app[settings_key]` before the app starts to replace them all (tests shorten
the timeouts and the rate counters' tick).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from aiohttp import web

from gateway.config import EmbeddedConfig


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Every knob of the Realtime server; defaults are hosted Supabase's."""

    idle_timeout_seconds: float = 60.0
    """Close a socket that sent no frame (ping included) for this long (Phoenix `timeout`)."""
    max_frame_bytes: int = 5_000_000
    """Largest inbound WebSocket frame; bigger ones close the socket with 1009."""
    max_channels_per_client: int = 100
    """Channels one socket may join (`ChannelRateLimitReached` past it)."""
    channel_error_backoff_seconds: float = 5.0
    """Delay before a failed join's error reply (CHANNEL_ERROR_BACKOFF_MS)."""
    connect_error_backoff_seconds: float = 2.0
    """Delay before a rejected upgrade's HTTP error (CONNECT_ERROR_BACKOFF_MS)."""
    token_recheck_seconds: float = 300.0
    """Longest wait between two checks of a channel's access token."""
    max_payload_size_kb: int = 256
    """Broadcast payload and presence meta cap in KB (tenant `max_payload_size_in_kb`:
    Free 256, Pro and up 3,000; self-hosted Realtime's default 3,000)."""
    max_concurrent_users: int = 200
    """Sockets with a joined channel at once (tenant `max_concurrent_users`)."""
    max_joins_per_second: int = 100
    """Channel joins per second, averaged (tenant `max_joins_per_second`)."""
    max_events_per_second: int = 100
    """Messages per second sent and delivered, averaged (tenant `max_events_per_second`)."""
    max_presence_events_per_second: int = 20
    """Presence messages per second, averaged (tenant `max_presence_events_per_second`:
    Free 20, Pro 50, Team 1,000; self-hosted Realtime's default 1,000)."""
    rate_tick_seconds: float = 5.0
    """How often the rate counters sum up (Supabase's RateCounter `tick`)."""
    rate_buckets: int = 12
    """Ticks a rate is averaged over (RateCounter `max_bucket_len`): one minute."""
    rate_idle_seconds: float = 300.0
    """A rate counter idle this long starts over (RateCounter `idle_shutdown`)."""
    presence_max_calls: int = 5
    """Presence track/untrack calls one channel may make per window."""
    presence_window_seconds: float = 30.0
    """Length of the presence rate-limit window."""
    outgoing_queue_max: int = 4096
    """Frames queued for one socket; a socket whose queue overflows is disconnected."""
    postgres_changes_filter_timeout_ms: int = 250
    """Longest one channel's column filters may take on one change (embedded limit: Supabase
    has none); a channel whose filters take longer is shut down."""
    replication_ready_timeout_seconds: float = 60.0
    """How long a channel joined with `broadcast.replication_ready` waits for the change feed
    before it is shut down (Supabase's `replication_ready_timeout`, one minute)."""
    postgres_changes_queue_max: int = 10_000
    """Changes waiting for one channel's RLS and filter checks; a channel further behind is
    shut down (embedded limit), so it never holds anyone else up."""

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"realtime.{field.name} must not be negative")
        for name in ("postgres_changes_filter_timeout_ms", "postgres_changes_queue_max"):
            if getattr(self, name) < 1:  # 0 would mean "no limit" to PostgreSQL
                raise ValueError(f"realtime.{name} must be at least 1")
        if self.rate_tick_seconds <= 0 or self.rate_buckets < 1:
            raise ValueError("realtime rate counters need a positive tick and a bucket")

    @classmethod
    def from_config(cls, config: EmbeddedConfig) -> RealtimeSettings:
        return cls(
            max_payload_size_kb=config.realtime_max_payload_kb,
            max_concurrent_users=config.realtime_max_concurrent_users,
            max_joins_per_second=config.realtime_max_joins_per_second,
            max_events_per_second=config.realtime_max_events_per_second,
            max_presence_events_per_second=config.realtime_max_presence_events_per_second,
        )

    @property
    def max_payload_bytes(self) -> int:
        # Supabase compares the term size to max_payload_size_in_kb * 1000 + 500.
        return self.max_payload_size_kb * 1000 + 500


settings_key = web.AppKey("realtime_settings", RealtimeSettings)
