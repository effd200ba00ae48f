"""The two measured phases against the gateway: the connection ramp (with the gateway's
RSS per idle socket) and the open-loop load (latency, throughput, correctness, CPU).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ops.bench import schedule, stats
from ops.bench.fleet import Fleet
from ops.bench.options import Options
from ops.bench.resources import Sampler

START_LEAD_SECONDS = 1.0  # time for every worker to receive its schedule before it starts
GENERATOR_CPU_LIMIT_PCT = 70.0  # above this a worker may be what limits the run
SEND_LAG_LIMIT_MS = 10.0  # p99 of (actual - scheduled send time) above this: behind schedule


def added(counters: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counter in counters:
        for kind, n in counter.items():
            total[kind] = total.get(kind, 0) + n
    return total


def _ramp_summary(replies: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [s * 1e3 for r in replies for s in r["seconds"]]
    first = min(r["first"] for r in replies)
    wall = max(r["last"] for r in replies) - first
    live_wall = max(r["all_live"] for r in replies) - first
    return {
        "sockets": len(seconds),
        "failed": added([r["failures"] for r in replies]),
        "not_live": sum(r["not_live"] for r in replies),
        "seconds": round(wall, 3),
        "live_seconds": round(live_wall, 3),
        "connects_per_s": round(len(seconds) / wall, 1) if wall > 0 else None,
        "connect_ms": stats.percentiles(seconds),
    }


async def ramp(
    fleet: Fleet, ws_url: str, o: Options, sampler: Sampler
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Connect every user's socket in two halves; RSS is read before, between and after,
    so the per-socket figure can leave out one-time costs (the second half's slope)."""
    halves: list[list[list[int]]] = [[], []]
    for spec in fleet.specs:
        indexes = [u.index for u in spec.users]
        cut = len(indexes) // 2
        halves[0].append(indexes[:cut])
        halves[1].append(indexes[cut:])
    t_start = sampler.sample()
    rss = [sampler.rss("gateway")]
    steps = []
    connect_ms: list[float] = []
    live_ms: list[float] = []
    for half in halves:
        replies = await fleet.each(
            [
                {
                    "cmd": "connect",
                    "url": ws_url,
                    "users": users,
                    "concurrency": o.connect_concurrency,
                }
                for users in half
            ]
        )
        steps.append(_ramp_summary(replies))
        connect_ms += [s * 1e3 for r in replies for s in r["seconds"]]
        live_ms += [s * 1e3 for r in replies for s in r["live_seconds"]]
        await asyncio.sleep(o.settle)  # let the gateway finish each user's setup work
        t_idle = sampler.sample()
        rss.append(sampler.rss("gateway"))
    await asyncio.sleep(o.settle)
    idle_cpu = sampler.window(t_idle, sampler.sample())["gateway"]
    n_all = steps[0]["sockets"] + steps[1]["sockets"]
    connect = _ramp_summary_total(steps)
    connect["connect_ms"] = stats.percentiles(connect_ms)
    connect["live_ms"] = stats.percentiles(live_ms)
    connect["cpu_us_per_socket"] = _cpu_per_socket(sampler.window(t_start, t_idle), n_all)
    idle = {
        "sockets": n_all,
        "gateway_rss_mb": [round(r / 2**20, 1) for r in rss],
        "rss_per_socket_kb": round((rss[2] - rss[0]) / max(n_all, 1) / 1024, 1) if rss[0] else None,
        "rss_per_socket_second_half_kb": (
            round((rss[2] - rss[1]) / steps[1]["sockets"] / 1024, 1)
            if rss[0] and steps[1]["sockets"]
            else None
        ),
        "gateway_idle_cpu_pct": idle_cpu["cpu_pct"],
    }
    return connect, idle


def _cpu_per_socket(used: dict[str, dict[str, Any]], sockets: int) -> dict[str, float]:
    """CPU per socket connected, by process group, over the ramp (its settles included):
    unlike sockets/s, it holds when something else shares the machine."""
    per = {
        name: round(group["cpu_s"] * 1e6 / max(sockets, 1), 1)
        for name, group in used.items()
        if name != "others" and not name.startswith("worker-")
    }
    workers = sum(g["cpu_s"] for n, g in used.items() if n.startswith("worker-"))
    per["generator"] = round(workers * 1e6 / max(sockets, 1), 1)
    return per


def _ramp_summary_total(steps: list[dict[str, Any]]) -> dict[str, Any]:
    sockets = sum(s["sockets"] for s in steps)
    wall = sum(s["seconds"] for s in steps)
    live_wall = sum(s["live_seconds"] for s in steps)
    return {
        "sockets": sockets,
        "failed": added([s["failed"] for s in steps]),
        "not_live": sum(s["not_live"] for s in steps),
        "connects_per_s": round(sockets / wall, 1) if wall > 0 else None,
        "live_per_s": round(sockets / live_wall, 1) if live_wall > 0 else None,
        "halves": steps,
    }


async def load(
    fleet: Fleet, o: Options, sampler: Sampler
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Run the schedule on every worker; return (load, resources, generator) sections."""
    senders = [u.index for spec in fleet.specs for u in spec.users]
    sends = schedule.build(o.rate, o.warmup + o.duration, senders, arrivals=o.arrivals, seed=o.seed)
    shares = schedule.split(sends, fleet.owner, len(fleet.specs))
    loop = asyncio.get_running_loop()
    start = time.monotonic() + START_LEAD_SECONDS
    t0, t1 = start + o.warmup, start + o.warmup + o.duration
    # An exact window. The times are time.monotonic(), not the loop's clock: delays, not
    # call_at (uvloop's clock is its own, in whole milliseconds).
    edges = [loop.call_later(t - time.monotonic(), sampler.sample) for t in (t0, t1)]
    replies = await fleet.each(
        [
            {
                "cmd": "load",
                "start": start,
                "sends": share,
                "window": (t0, t1),
                "drain": o.drain_timeout,
                "linger": o.linger,
            }
            for share in shares
        ]
    )
    for edge in edges:
        edge.cancel()  # (if the run ended early)
    used = sampler.window(t0, t1 + 0.1)  # the t1 sample runs a moment after t1
    merged = stats.merge(replies)
    counts, samples = merged["counts"], merged["samples"]
    section = {
        "offered_per_s": o.rate,
        "scheduled": len(sends),
        "acked_per_s": round(counts["acked_in_window"] / o.duration, 1),
        "delivered_per_s": round(counts["delivered_in_window"] / o.duration, 1),
        "latency_ms": {
            "end_to_end": stats.percentiles(samples["e2e_ms"]),
            "end_to_end_from_actual_send": stats.percentiles(samples["e2e_from_send_ms"]),
            "ack": stats.percentiles(samples["ack_ms"]),
        },
        "counts": counts,
        "correctness": {k: counts[k] for k in ("lost", "duplicates", "reordered", "gaps")},
        "errors": merged["errors"],
        "other_frames": merged["other"],
        "drained": all(r["drained"] for r in replies),
    }
    workers = {k: v for k, v in used.items() if k.startswith("worker-")}
    lag = stats.percentiles(samples["send_lag_ms"])
    busiest = max((w["cpu_pct"] for w in workers.values()), default=0.0)
    generator = {
        "workers": workers,
        "busiest_worker_cpu_pct": busiest,
        "send_lag_ms": lag,
        "kept_up": busiest < GENERATOR_CPU_LIMIT_PCT
        and (lag["p99"] is None or float(lag["p99"]) < SEND_LAG_LIMIT_MS),
        "limits": {"cpu_pct": GENERATOR_CPU_LIMIT_PCT, "send_lag_p99_ms": SEND_LAG_LIMIT_MS},
    }
    return section, used, generator
