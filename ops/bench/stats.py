"""From a worker's tally to numbers: latency samples of the measured window, delivery
counts, and the correctness verdict per chat (loss, duplication, reordering, gaps by seq).

`summarize` runs in each worker; `merge` and `percentiles` run in the coordinator. Pairs
of users never straddle workers, so every chat is checked whole in one place.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from ops.bench.clients import Received, Tally, cmid_times, micros

COUNTS = (
    "sent",
    "acked",
    "send_errors",
    "expected_deliveries",
    "delivered",
    "lost",
    "duplicates",
    "reordered",
    "gaps",
    "unacked_delivered",
    "sent_in_window",
    "acked_in_window",
    "delivered_in_window",
)
SAMPLES = ("e2e_ms", "e2e_from_send_ms", "ack_ms", "send_lag_ms")


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """Nearest-rank p50/p95/p99, max and mean (None when there are no samples)."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


def _streams(received: Iterable[Received]) -> dict[tuple[int, str], list[int]]:
    streams: dict[tuple[int, str], list[int]] = defaultdict(list)
    for item in received:
        streams[(item.user, item.chat_id)].append(item.seq)
    return streams


def correctness(tally: Tally) -> dict[str, int]:
    """Every acked message must reach each other member's socket exactly once, in
    increasing seq; with the socket's own acks, each chat must have no holes."""
    acked = [r for r in tally.sent.values() if r.seq is not None]
    acked_keys = {(r.chat_id, r.seq) for r in acked}
    own: dict[tuple[int, str], set[int]] = defaultdict(set)
    for user, chat_id, seq in tally.acks:
        own[(user, chat_id)].add(seq)
    streams = _streams(tally.received)
    duplicates = reordered = gaps = 0
    arrived: set[tuple[int, str, int]] = set()
    for (user, chat_id), seqs in streams.items():
        seen: set[int] = set()
        top = 0
        for seq in seqs:
            if seq in seen or seq in own[(user, chat_id)]:
                duplicates += 1  # twice, or an echo of the socket's own acked message
            elif seq < top:
                reordered += 1
            seen.add(seq)
            top = max(top, seq)
            arrived.add((user, chat_id, seq))
    for key in set(streams) | set(own):
        covered = set(streams.get(key, ())) | own[key]
        gaps += max(covered) - len(covered)  # seq starts at 1 in the fresh chats
    expected = 0
    lost = 0
    for r in acked:
        assert r.chat_id is not None and r.seq is not None
        for member in tally.members.get(r.chat_id, ()):
            if member != r.sender:
                expected += 1
                lost += (member, r.chat_id, r.seq) not in arrived
    unacked = sum(1 for _, chat_id, seq in arrived if (chat_id, seq) not in acked_keys)
    return {
        "sent": len(tally.sent),
        "acked": len(acked),
        "send_errors": sum(1 for r in tally.sent.values() if r.error is not None),
        "expected_deliveries": expected,
        "delivered": len(tally.received),
        "lost": lost,
        "duplicates": duplicates,
        "reordered": reordered,
        "gaps": gaps,
        "unacked_delivered": unacked,
    }


def summarize(tally: Tally, t0: float, t1: float) -> dict[str, Any]:
    """Counts and latency samples (ms) for messages scheduled in [t0, t1)."""
    counts = correctness(tally)
    e2e, e2e_send, ack, lag = [], [], [], []
    # Window membership in whole µs, as the times travel in client_msg_id.
    us0, us1 = micros(t0), micros(t1)
    in_window = [r for r in tally.sent.values() if us0 <= micros(r.sched) < us1]
    for r in in_window:
        lag.append((r.sent - r.sched) * 1e3)
        if r.ack_at is not None:
            ack.append((r.ack_at - r.sched) * 1e3)
    delivered_in_window = 0
    for item in tally.received:
        delivered_in_window += t0 <= item.at < t1
        times = cmid_times(item.cmid)
        if times is not None and us0 <= times[0] < us1:
            at_us = item.at * 1e6
            e2e.append((at_us - times[0]) / 1e3)
            e2e_send.append((at_us - times[1]) / 1e3)
    counts["sent_in_window"] = len(in_window)
    counts["acked_in_window"] = sum(
        1 for r in tally.sent.values() if r.ack_at is not None and t0 <= r.ack_at < t1
    )
    counts["delivered_in_window"] = delivered_in_window
    return {
        "counts": counts,
        "samples": {"e2e_ms": e2e, "e2e_from_send_ms": e2e_send, "ack_ms": ack, "send_lag_ms": lag},
        "errors": dict(tally.errors),
        "other_frames": dict(tally.other_frames),
    }


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add the workers' summaries together."""
    counts = {name: sum(p["counts"][name] for p in parts) for name in COUNTS}
    samples = {name: [v for p in parts for v in p["samples"][name]] for name in SAMPLES}
    errors: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
        other.update(p["other_frames"])
    return {"counts": counts, "samples": samples, "errors": dict(errors), "other": dict(other)}
