"""The restart phase (`--restart`): stop the gateway the bench started (SIGTERM, by pid,
graceful), start a fresh one on the same port, and have every client reconnect at once;
then how long until every socket is live again, from the new process's start and from
its first ready `/readyz`.

Timeline, all on time.monotonic() (shared by every process of the machine): SIGTERM
sent → old process exited → new process started (just before it is spawned) → /readyz
first 200 → every socket `ready`. Workers begin reconnecting as soon as the old gateway
has closed their sockets, as real clients would.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any
from urllib.parse import urlsplit

from ops.bench import phases, probes, resources, stats
from ops.bench.fleet import Fleet
from ops.bench.options import Options
from ops.bench.processes import Processes, Stack, Started, start_gateway

WITHIN_SECONDS = 120.0  # a client gives up reconnecting after this
TARGET_SECONDS = 15.0  # "10,000 users reconnect at once after a restart: all live ≤ 15 s"


def _since(t: float | None, origin: float) -> float | None:
    return round(t - origin, 3) if t is not None else None


async def restart(
    procs: Processes,
    old: Started,
    stack: Stack,
    fleet: Fleet,
    ws_url: str,
    o: Options,
    sampler: resources.Sampler,
) -> tuple[dict[str, Any], Started]:
    """Restart the gateway under its connected clients; (the `restart` section, new one)."""
    port = urlsplit(ws_url).port
    base = probes.http_base(ws_url)
    term = time.monotonic()
    command = {
        "cmd": "reconnect",
        "url": ws_url,
        "concurrency": o.connect_concurrency,
        "within": WITHIN_SECONDS,
    }
    reconnecting = asyncio.create_task(fleet.all(command))
    try:
        await asyncio.to_thread(procs.stop, old, signal.SIGTERM)
        stopped = began = time.monotonic()
        # Polled only now: the old gateway's /readyz must not count.
        ready = asyncio.create_task(probes.first_ready(base, began + WITHIN_SECONDS))
        try:
            new, _ = await start_gateway(
                procs, stack, o.joins_per_second, port=port, name="gateway-restarted"
            )
            sampler.groups["gateway"] = resources.one(new.pid)
            replies = await reconnecting
            ready_at = await ready
        finally:
            ready.cancel()
    finally:
        reconnecting.cancel()
    upstream = await probes.upstream(base)
    return _summary(replies, term, stopped, began, ready_at, upstream), new


def _summary(
    replies: list[dict[str, Any]],
    term: float,
    stopped: float,
    began: float,
    ready_at: float | None,
    upstream: dict[str, Any],
) -> dict[str, Any]:
    sockets = sum(len(r["seconds"]) for r in replies)
    not_live = sum(r["not_live"] for r in replies)
    not_connected = sum(r["not_connected"] for r in replies)
    live = sockets - not_live
    all_live = max(r["all_live"] for r in replies)
    first = min(r["first_connected"] for r in replies)
    after_start = _since(all_live, began)
    return {
        "sockets": sockets,
        "not_live": not_live,
        "not_connected": not_connected,
        "attempts": sum(r["attempts"] for r in replies),
        "failed_attempts": phases.added([r["failures"] for r in replies]),
        "old_gateway_stopped_s": _since(stopped, term),
        "sockets_closed_s": _since(max(r["closed"] for r in replies), term),
        "readyz_after_start_s": _since(ready_at, began),
        "all_live_after_start_s": after_start,
        "all_live_after_readyz_s": _since(all_live, ready_at) if ready_at else None,
        "all_live_after_sigterm_s": _since(all_live, term),
        "live_per_s": round(live / (all_live - first), 1) if all_live > first else None,
        "connect_ms": stats.percentiles([s * 1e3 for r in replies for s in r["seconds"]]),
        "live_ms": stats.percentiles([s * 1e3 for r in replies for s in r["live_seconds"]]),
        "upstream": upstream,
        "target": {
            "all_live_within_s": TARGET_SECONDS,
            "from": "the new gateway process's start",
            "met": bool(
                not not_live
                and not not_connected
                and after_start is not None
                and after_start <= TARGET_SECONDS
            ),
        },
    }
