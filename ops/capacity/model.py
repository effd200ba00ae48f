"""The capacity model's inputs and its steady-state arithmetic.

Measured numbers come from ops/bench/RESULTS.md (2026-12-03, a 2-core machine); the
workload and the few costs not measured yet are assumptions, named as such. Everything
is per second unless the name says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_WORKLOAD", "PLANS", "Plan", "Steady", "Workload", "gateways_for", "steady"]

# --- Measured (ops/bench/RESULTS.md, README "Benchmark") --------------------------------
RSS_PER_SOCKET_KB = 21.4  # gateway RSS per idle socket at 10,000 sockets
CPU_PER_CONNECT_MS = 1.2  # gateway CPU per socket connected (1,110-1,250 µs)
CPU_PER_MESSAGE_MS = 1.3  # gateway CPU per delivered message at 200 msg/s (1.25-1.29)
CONNECTS_PER_GATEWAY = 832.0  # sockets live per second, 10,000-user restart (shared cores)
DB_CEILING_MSGS = 1016.0  # database-alone ceiling, highest of the afternoon's runs
UPSTREAM_CHANNELS = 12  # per gateway: 8 `chats:` topics, control, presence shards (README)

# --- Gateway settings (gateway/config.py defaults) -------------------------------------
SOCKETS_MAX = 10_000  # limits.ws_sockets_max
PRESENCE_SHARDS = 4  # delivery.presence_shards: one Realtime socket each
PRESENCE_WINDOW_S = 6.5  # a shard's presence is updated at most once per window
START_POINT_BATCH = 500  # users per start-point query under a connect burst
CPU_BUDGET = 0.7  # of one core: a gateway is one Python process (one core)

# --- Assumptions (not measured) ---------------------------------------------------------
# Every gateway receives every message of the project on the fixed `chats:` topics and
# routes it (parse, membership check) whether or not a member is local. The benchmark ran
# one gateway, so this share of CPU_PER_MESSAGE_MS is not measured yet.
CPU_ROUTE_MS = 0.2
MEMBERS = 2  # direct chats: a message is published on each member's `user:<id>` topic
USER_TOPIC_SUBSCRIBERS = 0.0  # direct Realtime subscribers per `user:` topic (apps' choice)
# Not counted: typing (REST broadcasts, at most one a second per peer), the gateways'
# probes (one acknowledged broadcast per gateway every 10 s) and direct subscribers.
READ_DB_COST = 0.5  # a read marker (an update and its broadcasts) in messages' database cost
ID_BYTES = 40  # a user id in a presence meta, JSON-quoted, with its comma


@dataclass(frozen=True)
class Workload:
    """What concurrent users do (assumed: a busy chat app)."""

    messages_per_user_minute: float = 1.0  # messages each online user sends
    reads_per_message: float = 1.0  # read markers set per message (each is published too)
    session_minutes: float = 30.0  # each socket reconnects this often on average (churn)


DEFAULT_WORKLOAD = Workload()


@dataclass(frozen=True)
class Plan:
    name: str
    connections: int  # concurrent Realtime connections
    messages: int  # Realtime messages per second (sent and delivered)
    joins: int  # channel joins per second
    presence: int  # presence messages per second
    payload_kb: int  # largest broadcast or presence meta


PLANS = (
    Plan("Free", 200, 100, 100, 20, 256),
    Plan("Pro", 500, 500, 500, 50, 3000),
    Plan("Team", 10_000, 2_500, 2_500, 1_000, 3000),
)
CHANNELS_PER_CONNECTION = 100


@dataclass(frozen=True)
class Steady:
    """One size of deployment in steady state."""

    users: int
    gateways: int  # enough that the others take a stopped one's sockets
    sockets_per_gateway: int
    cpu_per_gateway: float  # cores, at the steady rate
    rss_per_gateway_mb: float
    messages: float  # chat messages per second
    connects: float  # sockets (re)connecting per second, all gateways
    realtime_connections: int
    realtime_channels: int
    realtime_messages: float  # sent and delivered, all topics
    presence_messages: float  # presence diffs delivered, every window, per second
    presence_meta_kb: float  # one shard's meta (its users' ids)
    db_load: float  # of the measured database-alone ceiling

    @property
    def over_budget(self) -> bool:
        return self.cpu_per_gateway > CPU_BUDGET


def gateways_for(users: int) -> int:
    """Sockets bound the count; one more so a stopped gateway's users fit on the rest."""
    return max(2, math.ceil(users / SOCKETS_MAX) + 1)


def steady(users: int, work: Workload = DEFAULT_WORKLOAD) -> Steady:
    gateways = gateways_for(users)
    per_gateway = math.ceil(users / gateways)
    messages = users * work.messages_per_user_minute / 60.0
    events = messages * (1.0 + work.reads_per_message)  # what the `chats:` topics carry
    connects = users / (work.session_minutes * 60.0)
    local_share = per_gateway / users
    cpu_ms = (
        messages * local_share * (CPU_PER_MESSAGE_MS - CPU_ROUTE_MS)
        + events * CPU_ROUTE_MS
        + connects * local_share * CPU_PER_CONNECT_MS
    )
    # Supabase counts a message each time it reaches a channel (a row on a topic nobody
    # joined costs nothing): every gateway's `chats:` channel, and direct subscribers.
    delivered = events * (gateways + MEMBERS * USER_TOPIC_SUBSCRIBERS)
    shards = gateways * PRESENCE_SHARDS
    updates = gateways * PRESENCE_SHARDS / PRESENCE_WINDOW_S  # churn changes every shard
    return Steady(
        users=users,
        gateways=gateways,
        sockets_per_gateway=per_gateway,
        cpu_per_gateway=cpu_ms / 1000.0,
        rss_per_gateway_mb=per_gateway * RSS_PER_SOCKET_KB / 1024.0,
        messages=messages,
        connects=connects,
        realtime_connections=gateways * (1 + PRESENCE_SHARDS),
        realtime_channels=gateways * UPSTREAM_CHANNELS,
        realtime_messages=delivered,
        # Each track counts, and each diff it causes on every shard's channel.
        presence_messages=updates * (1 + shards),
        presence_meta_kb=per_gateway / PRESENCE_SHARDS * ID_BYTES / 1024.0,
        db_load=messages * (1.0 + work.reads_per_message * READ_DB_COST) / DB_CEILING_MSGS,
    )
