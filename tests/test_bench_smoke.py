"""The load generator end to end, as a user runs it: `python -m ops.bench` with a few users
for a few seconds starts its own embedded stack and gateway as processes, every acked
message reaches its recipient exactly once and in seq order, the gateway restarts under
its clients and every one of them is live again, the JSON and Markdown results are
written, and no process it started is left behind."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
USERS, RATE, WARMUP, DURATION = 6, 30, 1, 3
TOP_LEVEL_KEYS = {
    "schema",
    "command",
    "started_at",
    "machine",
    "options",
    "setup",
    "connect",
    "idle",
    "load",
    "resources",
    "generator",
    "ceilings",
    "processes",
    "restart",
    "efficiency",
    "fractions",
    "verdict",
}


async def run_module(module: str, *args: str) -> tuple[int, str]:
    """`python -m <module> <args>` from the repository root: (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 55)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


async def run_bench(out: Path) -> tuple[int, str]:
    return await run_module(
        "ops.bench",
        *("--users", str(USERS), "--rate", str(RATE)),
        *("--warmup", str(WARMUP), "--duration", str(DURATION)),
        *("--ceiling-seconds", "1", "--restart", "--out", str(out)),
    )


async def test_a_short_run_delivers_every_message_once_in_order_and_cleans_up(
    tmp_path: Path,
) -> None:
    out = tmp_path / "result.json"
    code, stderr = await run_bench(out)
    assert code == 0, stderr

    result = json.loads(out.read_text())
    assert TOP_LEVEL_KEYS <= set(result)
    load = result["load"]
    counts = load["counts"]
    assert load["scheduled"] == RATE * (WARMUP + DURATION)
    assert counts["sent"] == counts["acked"] == load["scheduled"]
    assert load["correctness"] == {"lost": 0, "duplicates": 0, "reordered": 0, "gaps": 0}
    assert counts["delivered"] == counts["expected_deliveries"] == counts["acked"]
    assert load["errors"] == {}
    assert load["drained"] is True
    assert result["verdict"] == {
        "correct": True,
        "violations": {},
        "generator_kept_up": result["generator"]["kept_up"],
    }
    # Every message of the measured window has a latency sample, and only those.
    assert load["latency_ms"]["end_to_end"]["count"] == counts["sent_in_window"]
    assert load["latency_ms"]["ack"]["count"] == counts["sent_in_window"]
    assert result["connect"]["sockets"] == USERS and result["connect"]["failed"] == {}
    assert result["connect"]["not_live"] == 0 and result["connect"]["live_ms"]["count"] == USERS
    # The gateway's upstream is a fixed set, read from its /metrics: the same at the end.
    upstream = result["connect"]["upstream"]
    assert upstream["after_ramp"]["sockets"] >= 1 and upstream["after_ramp"]["channels"] >= 8
    assert upstream["at_end"] == upstream["after_ramp"]
    assert result["resources"]["gateway"]["processes"] == 1

    # --restart: a new gateway process on the same port, every client live on it again.
    restarted = result["restart"]
    assert restarted["sockets"] == USERS and restarted["live_ms"]["count"] == USERS
    assert restarted["not_live"] == 0 and restarted["not_connected"] == 0
    assert restarted["readyz_after_start_s"] > 0 and restarted["all_live_after_start_s"] > 0
    assert restarted["upstream"] == upstream["after_ramp"]
    assert len(result["processes"]["gateway"]) == 2  # the stopped one and its successor
    assert result["efficiency"]["gateway_cpu_us_per_delivered"] is not None

    ceilings = result["ceilings"]
    assert ceilings["hop"]["round_trips"] > 0 and ceilings["hop"]["cpu_us"] > 0
    assert ceilings["database"]["messages"] > 0
    assert ceilings["transport"]["delivered"] > 0
    assert set(ceilings["transport"]["correctness"].values()) == {0}

    table = out.with_suffix(".md").read_text()
    assert "| measure | value |" in table and "restart: all 6 sockets live" in table
    assert {"gateway", "embedded", "postgres", "worker-0", "bare_ws"} <= set(result["processes"])
    started = [pid for pids in result["processes"].values() for pid in pids]
    assert [pid for pid in started if alive_since_before(pid, out.stat().st_mtime)] == []


def alive_since_before(pid: int, moment: float) -> bool:
    """A process with this pid runs and began before `moment` (a newer one merely reuses
    the pid). The result file is written after the run stopped everything it started."""
    try:
        return bool(psutil.Process(pid).create_time() < moment)
    except psutil.NoSuchProcess:
        return False


async def test_the_shape_comparison_measures_both_upstream_shapes_and_cleans_up(
    tmp_path: Path,
) -> None:
    """`python -m ops.bench.shapes` with tiny numbers: each shape receives what was
    committed, the lean variant's trigger writes one realtime.messages row less per
    message (no `chats:` row), and no process it started is left behind."""
    out = tmp_path / "shapes.json"
    code, stderr = await run_module(
        "ops.bench.shapes",
        *("--users", "4", "--rate", "20", "--warmup", "0", "--duration", "0.5"),
        *("--drain-timeout", "2", "--out", str(out)),
    )
    result = json.loads(out.read_text())
    # Broadcast must be exact. The embedded Postgres Changes may miss a change (exit 3):
    # its RLS check can run before the commit is visible; the run reports it, not hides it.
    violations = result["verdict"]["violations"]
    assert code == (3 if violations else 0), stderr
    assert not [v for v in violations if not v.startswith("changes")]
    shapes = result["shapes"]
    assert list(shapes) == ["broadcast", "changes", "changes-lean"]
    assert shapes["broadcast"]["subscription"]["channels"] == len(result["topics"]) == 8
    for name, rows in (("broadcast", 3.0), ("changes", 3.0), ("changes-lean", 2.0)):
        for mode in ("rate", "max"):
            section = shapes[name][mode]
            counts = section["counts"]
            assert counts["committed"] > 0 and section["committed_per_s"] > 0
            assert counts["received"] + counts["missing"] == counts["committed"]
            assert section["latency_ms"]["from_sent"]["count"] > 0
            assert section["cpu_us_per_message"]["until_drained"]["postgres"] is not None
            # 1 + members rows per direct message; the lean trigger writes no chats: row.
            assert section["realtime_rows_per_message"] == rows
    assert "delivery_topic" in result["lean_trigger"]["removed"]
    assert "| shape | mode |" in out.with_suffix(".md").read_text()
    started = [pid for pids in result["processes"].values() for pid in pids]
    assert {"embedded", "postgres", "subscriber"} <= set(result["processes"])
    assert [pid for pid in started if alive_since_before(pid, out.stat().st_mtime)] == []
