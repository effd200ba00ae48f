"""The two ceilings of this machine, measured in the same run as the gateway:

- database alone: the same `send_direct_message` calls (same triggers: seq, chat summary,
  the Realtime broadcasts) as the same users, straight into PostgreSQL (`driver.Driver`,
  flat out) — several connections, each sending `pipeline` complete transactions per
  round trip, as fast as they go;
- WebSocket transport alone: the bare aiohttp server of bare_server.py, driven closed-loop
  by the same workers over the same number of sockets with frames of the same shape.
"""

from __future__ import annotations

from typing import Any

from ops.bench import stats
from ops.bench.driver import Driver
from ops.bench.fleet import Fleet
from ops.bench.resources import Sampler
from ops.bench.users import BenchUser, Chat


async def database(
    database_url: str,
    users: list[BenchUser],
    chats: list[Chat],
    *,
    payload: int,
    seconds: float,
    connections: int,
    pipeline: int,
    sampler: Sampler,
) -> dict[str, Any]:
    """Messages committed per second through the real triggers, no gateway, no HTTP."""
    driver = Driver(database_url, users, chats, payload=payload, run_id="db")
    await driver.connect(connections)
    try:
        t0 = sampler.sample()
        committed = await driver.flat_out(seconds, pipeline)
        t1 = sampler.sample()
    finally:
        await driver.close()
    elapsed = t1 - t0
    return {
        "messages": committed,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(committed / elapsed, 1),
        "connections": connections,
        "pipeline": pipeline,
        "resources": sampler.window(t0, t1),
    }


async def transport(
    fleet: Fleet, url: str, *, seconds: float, window: int, concurrency: int, sampler: Sampler
) -> dict[str, Any]:
    """Deliveries per second of the bare server with the same sockets and frames."""
    replies = await fleet.all(
        {
            "cmd": "ceiling",
            "url": url,
            "seconds": seconds,
            "window": window,
            "concurrency": concurrency,
        }
    )
    t0 = min(r["start"] for r in replies)
    t1 = max(r["end"] for r in replies)
    merged = stats.merge(replies)
    counts = merged["counts"]
    return {
        "delivered": counts["delivered_in_window"],
        "seconds": round(t1 - t0, 3),
        "delivered_per_s": round(counts["delivered_in_window"] / (t1 - t0), 1),
        "window_per_sender": window,
        "correctness": {k: counts[k] for k in ("lost", "duplicates", "reordered", "gaps")},
        "latency_ms": stats.percentiles(merged["samples"]["e2e_ms"]),
        "resources": sampler.window(t0, t1),
        "worker_cpu_s": [round(r["cpu_s"], 3) for r in replies],
    }
