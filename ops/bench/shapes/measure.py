"""One measurement of the shape comparison: drive the database in one mode (a fixed
offered rate, or flat out) while the subscriber holds one shape, wait for stragglers,
then count and time what arrived.

Latency, per message scheduled in the measured window, from the subscriber's receive
time (time.monotonic(), shared by every process of the machine) back to:
`from_sent` — when its transaction was written to PostgreSQL (stamped in client_msg_id;
includes the transaction itself); `from_commit` — when the driver had the commit's
answer (a message may arrive before that: then negative; in a pipelined round trip
every commit is stamped at the round trip's end); `from_scheduled` — the open-loop
schedule, so queueing in the driver counts too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from ops.bench import schedule, stats
from ops.bench.child import Child
from ops.bench.clients import cmid_times, micros
from ops.bench.driver import Driver
from ops.bench.resources import Sampler
from ops.bench.shapes.db import realtime_rows
from ops.bench.shapes.options import ShapeOptions

START_LEAD_SECONDS = 0.5
DRAIN_POLL_SECONDS = 0.1
EDGE_SLACK_SECONDS = 0.1  # the t1 sample runs a moment after t1 (uvloop's clock is in ms)
SERVER_GROUPS = ("embedded", "postgres")


async def measure(
    mode: str,
    driver: Driver,
    subscriber: Child,
    admin: asyncpg.Connection,
    sampler: Sampler,
    o: ShapeOptions,
) -> dict[str, Any]:
    driver.commits.clear()
    rows0 = await realtime_rows(admin)
    loop = asyncio.get_running_loop()
    start = time.monotonic() + START_LEAD_SECONDS
    t0, t1 = start + o.warmup, start + o.warmup + o.duration
    # Delays, not call_at: the times are time.monotonic(), uvloop's clock is its own.
    edges = [loop.call_later(t - time.monotonic(), sampler.sample) for t in (start, t0, t1)]
    try:
        if mode == "rate":
            senders = sorted(driver.peer)
            sends = schedule.build(
                o.rate, o.warmup + o.duration, senders, arrivals=o.arrivals, seed=o.seed
            )
            await driver.at_rate(sends, start, o.db_pipeline)
        else:
            await asyncio.sleep(start - time.monotonic())
            await driver.flat_out(o.warmup + o.duration, o.db_pipeline)
        # The last send may come before t1, the last commit just before its edge fires.
        await asyncio.sleep(max(0.0, t1 - time.monotonic()) + EDGE_SLACK_SECONDS)
    finally:
        for edge in edges:
            edge.cancel()
    used = sampler.window(t0, t1 + EDGE_SLACK_SECONDS)
    drained = await _drain(subscriber, len(driver.commits), o.drain_timeout)
    # All the work for every message of the mode, warm-up included: at max, much of the
    # delivery work is still to do when the window closes.
    whole = sampler.window(start, sampler.sample())
    taken = await subscriber.call({"cmd": "take"})
    rows = await realtime_rows(admin) - rows0
    section = summarize(driver.commits, taken["received"], t0, t1, used)
    section["cpu_us_per_message"]["until_drained"] = _per_message(whole, len(driver.commits))
    section.update(
        mode=mode,
        offered_per_s=o.rate if mode == "rate" else None,
        drained=drained,
        realtime_rows_per_message=round(rows / len(driver.commits), 2) if driver.commits else None,
        other_frames=taken["other"],
    )
    return section


async def _drain(subscriber: Child, expected: int, timeout: float) -> bool:
    """Until the subscriber has received `expected` messages (True) or time runs out."""
    deadline = time.monotonic() + timeout
    while (await subscriber.call({"cmd": "count"}))["received"] < expected:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(DRAIN_POLL_SECONDS)
    return True


def _per_message(used: dict[str, dict[str, Any]], messages: int) -> dict[str, float | None]:
    """CPU µs of each server group per message."""
    return {
        g: round(used[g]["cpu_s"] / messages * 1e6, 1) if messages and g in used else None
        for g in SERVER_GROUPS
    }


def summarize(
    commits: dict[str, float],
    received: list[tuple[str, float]],
    t0: float,
    t1: float,
    used: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    first: dict[str, float] = {}
    for cmid, at in received:
        first.setdefault(cmid, at)
    from_scheduled, from_sent, from_commit = [], [], []
    us0, us1 = micros(t0), micros(t1)
    for cmid, at in first.items():
        times, commit = cmid_times(cmid), commits.get(cmid)
        if times is None or commit is None or not us0 <= times[0] < us1:
            continue
        at_us = at * 1e6
        from_scheduled.append((at_us - times[0]) / 1e3)
        from_sent.append((at_us - times[1]) / 1e3)
        from_commit.append((at - commit) * 1e3)
    seconds = t1 - t0
    missing = [c for c in commits if c not in first]
    committed = sum(1 for t in commits.values() if t0 <= t < t1)
    delivered = sum(1 for _, at in received if t0 <= at < t1)
    return {
        "seconds": round(seconds, 3),
        "committed_per_s": round(committed / seconds, 1),
        "delivered_per_s": round(delivered / seconds, 1),
        "counts": {
            "committed": len(commits),
            "received": len(received),
            "missing": len(missing),
            "duplicates": len(received) - len(first),
            "unexpected": sum(1 for c in first if c not in commits),
            "committed_in_window": committed,
            "delivered_in_window": delivered,
        },
        "missing_sample": missing[:5],  # client_msg_ids: <run>.<sender>.<n>.<sched µs>.<sent µs>
        "latency_ms": {
            "from_sent": stats.percentiles(from_sent),
            "from_commit": stats.percentiles(from_commit),
            "from_scheduled": stats.percentiles(from_scheduled),
        },
        "cpu_us_per_message": {"window": _per_message(used, committed)},
        "resources": used,
    }
