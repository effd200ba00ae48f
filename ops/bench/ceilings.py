"""The two ceilings of this machine, measured in the same run as the gateway:

- database alone: the same `send_direct_message` calls (same triggers: seq, chat summary,
  realtime.send per member) as the same users, with `request.jwt.claims` and the role set
  as the Data API sets them, straight into PostgreSQL with asyncpg — several connections,
  each sending `pipeline` complete transactions per round trip, as fast as they go;
- WebSocket transport alone: the bare aiohttp server of bare_server.py, driven closed-loop
  by the same workers over the same number of sockets with frames of the same shape.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import asyncpg

from ops.bench import stats
from ops.bench.fleet import Fleet
from ops.bench.resources import Sampler
from ops.bench.users import BenchUser, Chat


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on: only quotes need doubling)."""
    return "'" + text.replace("'", "''") + "'"


def _transaction(sender: BenchUser, peer: BenchUser, body: str, cmid: str) -> str:
    claims = json.dumps({"sub": sender.id, "role": "authenticated", "aud": "authenticated"})
    return (
        "begin;"
        f"select set_config('search_path', '\"public\", \"extensions\"', true),"
        f" set_config('request.jwt.claims', {_literal(claims)}, true),"
        " set_config('role', 'authenticated', true);"
        f"select public.send_direct_message({_literal(peer.id)}::uuid, {_literal(body)},"
        f" {_literal(cmid)});"
        "commit;"
    )


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
    by_index = {u.index: u for u in users}
    body = "x" * payload
    counter = itertools.count()
    conns = [await asyncpg.connect(database_url) for _ in range(connections)]
    committed = 0
    try:
        t0 = sampler.sample()
        end = t0 + seconds

        async def pump(conn: asyncpg.Connection) -> None:
            nonlocal committed
            while time.monotonic() < end:
                script = []
                for _ in range(pipeline):
                    i = next(counter)
                    chat = chats[i % len(chats)]
                    a, b = chat.members if (i // len(chats)) % 2 == 0 else chat.members[::-1]
                    script.append(_transaction(by_index[a], by_index[b], body, f"db.{i}"))
                await conn.execute("".join(script))
                committed += pipeline

        await asyncio.gather(*(pump(c) for c in conns))
        t1 = sampler.sample()
    finally:
        await asyncio.gather(*(c.close() for c in conns))
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
