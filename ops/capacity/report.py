"""The tables docs/SCALING.md shows: the model at each size, then where each limit bites
on each plan."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ops.capacity.model import (
    CPU_BUDGET,
    DEFAULT_WORKLOAD,
    PLANS,
    UPSTREAM_CHANNELS,
    Plan,
    Steady,
    Workload,
    steady,
)
from ops.capacity.simulate import restart_storm

__all__ = ["SIZES", "render"]

SIZES = (10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000)
GRID = range(1_000, 1_000_001, 1_000)  # where the bite points are searched

Limit = Callable[[Steady, Plan], bool]
LIMITS: dict[str, Limit] = {
    "Realtime connections": lambda s, p: s.realtime_connections > p.connections,
    "Realtime messages/s": lambda s, p: s.realtime_messages > p.messages,
    "Realtime presence messages/s": lambda s, p: s.presence_messages > p.presence,
    "presence meta size": lambda s, p: s.presence_meta_kb > p.payload_kb,
    # After a Realtime outage every gateway rejoins its channels at once.
    "channel joins/s (all gateways rejoin)": lambda s, p: s.gateways * UPSTREAM_CHANNELS > p.joins,
    f"gateway CPU > {CPU_BUDGET} core (routing every message)": lambda s, p: s.over_budget,
    "database > the bench machine's ceiling (2 cores)": lambda s, p: s.db_load > 1.0,
}


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def size_table(work: Workload = DEFAULT_WORKLOAD) -> list[str]:
    head = (
        "users",
        "gateways",
        "sockets / gateway",
        "gateway CPU (cores)",
        "gateway RSS (MB)",
        "chat msg/s",
        "Realtime connections",
        "Realtime channels",
        "Realtime msg/s",
        "presence msg/s",
        "presence meta (KB)",
        "database (x ceiling)",
        "restart: all live (s)",
        "restart: fullest gateway",
    )
    lines = [_row(head), _row("---" for _ in head)]
    for users in SIZES:
        s, storm = steady(users, work), restart_storm(users, work)
        cpu = _n(s.cpu_per_gateway) + (" ✘" if s.over_budget else "")
        lines.append(
            _row(
                (
                    f"{users:,}",
                    f"{s.gateways:,}",
                    f"{s.sockets_per_gateway:,}",
                    cpu,
                    _n(s.rss_per_gateway_mb),
                    _n(s.messages),
                    f"{s.realtime_connections:,}",
                    f"{s.realtime_channels:,}",
                    _n(s.realtime_messages),
                    _n(s.presence_messages),
                    _n(s.presence_meta_kb),
                    _n(s.db_load),
                    str(storm.seconds_to_all_live),
                    f"{storm.max_sockets_per_gateway:,}",
                )
            )
        )
    return lines


def bite_table(work: Workload = DEFAULT_WORKLOAD) -> list[str]:
    """For each limit and plan, the fewest concurrent users that exceed it."""
    sized = [steady(users, work) for users in GRID]
    head = ("limit", *(plan.name for plan in PLANS))
    lines = [_row(head), _row("---" for _ in head)]
    for name, exceeded in LIMITS.items():
        cells = []
        for plan in PLANS:
            first = next((s.users for s in sized if exceeded(s, plan)), None)
            cells.append(f"{first:,}" if first is not None else "> 1,000,000")
        lines.append(_row((name, *cells)))
    return lines


def render(work: Workload = DEFAULT_WORKLOAD) -> str:
    return "\n".join([*size_table(work), "", *bite_table(work)]) + "\n"
