"""Replays the model second by second: connection churn, a gateway restart and the
reconnect storm it causes, and presence updates per window.

Deterministic (fluid, no randomness): sockets leave at the churn rate and come back
through the load balancer to the live gateway with the fewest sockets (nginx's
`least_conn`), each gateway taking at most CONNECTS_PER_GATEWAY a second and no more than
SOCKETS_MAX sockets (limits.ws_sockets_max); a restarted
gateway's sockets all drop at once and it is back after RESTART_DOWN_S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ops.capacity.model import (
    CONNECTS_PER_GATEWAY,
    DEFAULT_WORKLOAD,
    PRESENCE_SHARDS,
    SOCKETS_MAX,
    START_POINT_BATCH,
    UPSTREAM_CHANNELS,
    Workload,
    gateways_for,
)

__all__ = ["Storm", "restart_storm"]

RESTART_AT_S = 10  # when the gateway restarts, in the replay
RESTART_DOWN_S = 5  # how long it is gone (a deploy's stop and start)
HORIZON_S = 600  # the replay gives up after this


@dataclass(frozen=True)
class Storm:
    seconds_to_all_live: int  # from the restart until every socket is live again
    peak_connects_per_gateway: float
    start_point_queries: int  # batched reads of the storm's start points
    rejoins: int  # Realtime joins the restarted gateway makes
    presence_updates_per_window: int  # every shard of every gateway changes
    max_sockets_per_gateway: int  # the fullest gateway during the storm


def _place(waiting: float, sockets: list[float], live: list[bool]) -> tuple[float, float]:
    """Admit up to each live gateway's connect rate, fewest sockets first; (left, peak)."""
    peak = 0.0
    for i in sorted(range(len(sockets)), key=lambda g: sockets[g]):
        if not live[i] or waiting <= 0:
            continue
        # A full gateway answers 503 gateway_full: the client retries elsewhere.
        taken = min(waiting, CONNECTS_PER_GATEWAY, max(0.0, SOCKETS_MAX - sockets[i]))
        sockets[i] += taken
        waiting -= taken
        peak = max(peak, taken)
    return waiting, peak


def restart_storm(users: int, work: Workload = DEFAULT_WORKLOAD) -> Storm:
    gateways = gateways_for(users)
    sockets = [users / gateways] * gateways
    live = [True] * gateways
    churn = 1.0 / (work.session_minutes * 60.0)
    waiting, peak, fullest, stormed = 0.0, 0.0, 0.0, 0.0
    for second in range(HORIZON_S):
        if second == RESTART_AT_S:
            waiting += sockets[0]
            stormed = sockets[0]
            sockets[0], live[0] = 0.0, False
        if second == RESTART_AT_S + RESTART_DOWN_S:
            live[0] = True
        for i in range(gateways):  # churn: some leave, and will come back
            leaving = sockets[i] * churn
            sockets[i] -= leaving
            waiting += leaving
        waiting, admitted = _place(waiting, sockets, live)
        if second >= RESTART_AT_S:
            peak = max(peak, admitted)
            fullest = max(fullest, *sockets)
            if waiting < 1.0:
                return Storm(
                    seconds_to_all_live=second - RESTART_AT_S + 1,
                    peak_connects_per_gateway=peak,
                    start_point_queries=math.ceil(stormed / START_POINT_BATCH),
                    rejoins=UPSTREAM_CHANNELS,
                    presence_updates_per_window=gateways * PRESENCE_SHARDS,
                    max_sockets_per_gateway=math.ceil(fullest),
                )
    raise RuntimeError(f"{users} users: the storm did not settle in {HORIZON_S} s")
