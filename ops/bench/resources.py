"""CPU seconds and RSS of the processes under test, sampled with psutil during the run.

Processes are grouped (gateway, embedded, postgres, worker-N, …). CPU over a window is
summed per pid — a process born inside the window counts from zero, one that exited
counts up to its last sample — so PostgreSQL backends coming and going are accounted.
RSS of a group is the sum over its processes (PostgreSQL's shared buffers are counted
once per backend that touched them, so its sum overstates real memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]

Sample = dict[int, tuple[float, int]]  # pid → (cpu seconds, rss bytes)
Finder = Callable[[], list[psutil.Process]]


@dataclass(frozen=True)
class Snapshot:
    at: float  # event-loop clock
    busy: float  # machine-wide user + nice + system CPU seconds since boot
    irq: float  # machine-wide interrupt and softirq seconds (loopback traffic lands here)
    groups: dict[str, Sample]


def one(pid: int | None) -> Finder:
    cached: list[psutil.Process] = []

    def find() -> list[psutil.Process]:
        if pid is None:
            return []
        if not cached:
            with contextlib.suppress(psutil.Error):
                cached.append(psutil.Process(pid))
        return cached

    return find


def children_of(pid: int | None) -> Finder:
    """Every descendant of pid, looked up again on each sample."""

    def find() -> list[psutil.Process]:
        if pid is None:
            return []
        try:
            children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            return []
        return children

    return find


@dataclass
class Sampler:
    groups: dict[str, Finder]
    interval: float = 0.5
    history: list[Snapshot] = field(default_factory=list)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)

    def sample(self) -> float:
        """Take one sample now; return its time (event-loop clock)."""
        now = time.monotonic()
        snap: dict[str, Sample] = {}
        for name, find in self.groups.items():
            group: Sample = {}
            for proc in find():
                proc = self._procs.setdefault(proc.pid, proc)  # keep psutil's cpu caches
                with contextlib.suppress(psutil.Error):
                    with proc.oneshot():
                        times = proc.cpu_times()
                        group[proc.pid] = (times.user + times.system, proc.memory_info().rss)
            snap[name] = group
        t = psutil.cpu_times()
        self.history.append(Snapshot(now, t.user + t.nice + t.system, t.irq + t.softirq, snap))
        return now

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def rss(self, name: str) -> int:
        """The group's RSS in the latest sample."""
        return sum(rss for _, rss in self.history[-1].groups.get(name, {}).values())

    def window(self, t0: float, t1: float) -> dict[str, dict[str, Any]]:
        """Per group, between the first and the last sample inside [t0, t1] (take samples at
        both ends for an exact window): CPU seconds, CPU % of one core, RSS max and at end."""
        inside = [h for h in self.history if t0 <= h.at <= t1]
        earlier = [h for h in self.history if h.at < t0]
        if len(inside) < 2 and earlier:
            inside.insert(0, earlier[-1])  # too short to hold two samples: widen it
        out: dict[str, dict[str, Any]] = {}
        if not inside:
            return out
        wall = max(inside[-1].at - inside[0].at, 1e-9)
        for name in self.groups:
            first = inside[0].groups.get(name, {})
            last: Sample = {}
            rss_max = 0
            for h in inside:
                last.update(h.groups.get(name, {}))
                rss_max = max(rss_max, sum(r for _, r in h.groups.get(name, {}).values()))
            cpu = sum(c - first.get(pid, (0.0, 0))[0] for pid, (c, _) in last.items())
            end = inside[-1].groups.get(name, {})
            out[name] = {
                "cpu_s": round(cpu, 3),
                "cpu_pct": round(100 * cpu / wall, 1),
                "rss_max_mb": round(rss_max / 2**20, 1),
                "rss_end_mb": round(sum(r for _, r in end.values()) / 2**20, 1),
                "processes": len(end),
            }
        others = max(inside[-1].busy - inside[0].busy - sum(g["cpu_s"] for g in out.values()), 0)
        irq = inside[-1].irq - inside[0].irq
        out["others"] = {
            "cpu_s": round(others, 3),
            "cpu_pct": round(100 * others / wall, 1),
            "irq_cpu_pct": round(100 * irq / wall, 1),
            "note": "machine-wide user+system CPU minus every group above: processes not ours;"
            " irq: interrupts and softirqs, ours or not",
        }
        return out


def pids_seen(sampler: Sampler) -> dict[str, list[int]]:
    """Every process sampled, by group, but ours (the smoke tests check they are gone)."""
    seen: dict[str, list[int]] = {}
    for snapshot in sampler.history:
        for name, group in snapshot.groups.items():
            if name not in ("coordinator", "driver"):
                seen.setdefault(name, [])
                seen[name] += [pid for pid in group if pid not in seen[name]]
    return seen


def machine() -> dict[str, Any]:
    """What the run ran on, and how busy the machine was when it started."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m_at_start": round(load1, 2),
        "load_avg_5m_at_start": round(load5, 2),
        "other_busy_processes_at_start": _busy_others(),
    }


def _busy_others() -> list[str]:
    """Processes not ours using CPU right now (a quick 0.2 s look): the run's neighbours."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    procs = [p for p in psutil.process_iter(["name"]) if p.pid not in mine]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    psutil.cpu_percent(0.2)
    busy = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            pct = p.cpu_percent(None)
            if pct >= 5.0:
                busy.append(f"{p.info['name']} {pct:.0f}%")
    return sorted(busy)[:10]
