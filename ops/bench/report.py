"""The run's conclusions (cost per message, fractions of the ceilings, verdict) and its
Markdown table; writes the JSON result, the table beside it, and optionally RESULTS.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SERVER_GROUPS = ("gateway", "embedded", "postgres")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def conclude(result: dict[str, Any]) -> None:
    """Add `efficiency`, `fractions` and `verdict` from the measured sections."""
    load, used = result["load"], result["resources"]
    delivered = load["counts"]["delivered_in_window"]
    gateway_cpu = used.get("gateway", {}).get("cpu_s")
    stack_cpu = sum(used.get(g, {}).get("cpu_s", 0.0) for g in SERVER_GROUPS)
    result["efficiency"] = {
        "gateway_cpu_us_per_delivered": (
            round(gateway_cpu / delivered * 1e6, 1) if gateway_cpu and delivered else None
        ),
        "servers_cpu_us_per_delivered": (
            round(stack_cpu / delivered * 1e6, 1) if stack_cpu and delivered else None
        ),
    }
    db, ws = result["ceilings"]["database"], result["ceilings"]["transport"]
    result["fractions"] = {
        "acked_per_s_of_database_ceiling": _ratio(
            load["acked_per_s"], db["messages_per_s"] if db else None
        ),
        "delivered_per_s_of_transport_ceiling": _ratio(
            load["delivered_per_s"], ws["delivered_per_s"] if ws else None
        ),
    }
    counts = load["counts"]
    violations = {k: v for k, v in load["correctness"].items() if v}
    if counts["acked"] != counts["sent"]:
        violations["unacked_sends"] = counts["sent"] - counts["acked"]
    if result["connect"]["not_live"]:
        violations["sockets_not_live"] = result["connect"]["not_live"]
    if restarted := result.get("restart"):
        if lost := restarted["not_live"] + restarted["not_connected"]:
            violations["sockets_not_live_after_restart"] = lost
    if not load["drained"]:
        # `lost` then also counts messages still in flight when the drain gave up.
        violations["drain_timed_out"] = 1
    result["verdict"] = {
        "correct": not violations,
        "violations": violations,
        "generator_kept_up": result["generator"]["kept_up"],
    }


def _ms(p: dict[str, Any]) -> str:
    if not p["count"]:
        return "n/a"
    return f"{p['p50']:.1f} / {p['p95']:.1f} / {p['p99']:.1f} / {p['max']:.1f}"


def _pair(counts: dict[str, Any]) -> str:
    if "error" in counts:
        return f"unreadable ({counts['error']})"
    return f"{counts['sockets']} / {counts['channels']}"


def _upstream(upstream: dict[str, Any]) -> str:
    """The gateway's own /metrics gauges after the ramp and at the end of the run."""
    return f"{_pair(upstream['after_ramp'])} after the ramp, {_pair(upstream['at_end'])} at the end"


def _row(name: str, value: object) -> str:
    return f"| {name} | {value} |"


def markdown(result: dict[str, Any]) -> str:
    o, m = result["options"], result["machine"]
    load, used, gen = result["load"], result["resources"], result["generator"]
    lat, idle, conn = load["latency_ms"], result["idle"], result["connect"]
    ceil, frac, eff = result["ceilings"], result["fractions"], result["efficiency"]
    rows = [
        "| measure | value |",
        "|---|---|",
        _row(
            "load",
            f"{o['users']} sockets, {o['rate']:g} msg/s offered ({o['arrivals']}), "
            f"{o['duration']:g} s measured after {o['warmup']:g} s warm-up, "
            f"{o['payload']} B text, chats of {o['group_size']}, {o['workers']} worker(s)",
        ),
        _row("delivered / acked per s", f"{load['delivered_per_s']} / {load['acked_per_s']}"),
        _row("end-to-end latency ms p50/p95/p99/max", _ms(lat["end_to_end"])),
        _row("ack latency ms p50/p95/p99/max", _ms(lat["ack"])),
        _row(
            "loss / duplicates / reordered / gaps",
            " / ".join(str(v) for v in load["correctness"].values()),
        ),
        _row(
            "sent / acked / errors",
            f"{load['counts']['sent']} / {load['counts']['acked']} / {load['errors'] or 0}",
        ),
        _row(
            "connect ramp",
            f"{conn['connects_per_s']} sockets/s "
            f"(connect→pong ms p50/p95/p99/max {_ms(conn['connect_ms'])})",
        ),
        _row(
            "live streams (`ready`)",
            f"{conn['live_per_s']} sockets/s, {conn['not_live']} not live "
            f"(connect→ready ms p50/p95/p99/max {_ms(conn['live_ms'])})",
        ),
        _row("CPU per socket connected, µs", _per_group(conn.get("cpu_us_per_socket"))),
        _row(
            f"upstream sockets / channels at {conn['sockets']} users",
            _upstream(conn["upstream"]),
        ),
        _row(
            "gateway RSS per idle socket",
            f"{idle['rss_per_socket_kb']} KB "
            f"(second half: {idle['rss_per_socket_second_half_kb']} KB) at {idle['sockets']}",
        ),
    ]
    for group in SERVER_GROUPS:
        if used.get(group, {}).get("processes"):
            g = used[group]
            rows.append(
                _row(
                    f"{group} CPU / RSS",
                    f"{g['cpu_s']} s ({g['cpu_pct']}% of a core) / {g['rss_max_mb']} MB max",
                )
            )
    if "others" in used:
        rows.append(
            _row(
                "other processes on the machine (not ours)",
                f"{used['others']['cpu_pct']}% of a core during the window",
            )
        )
    rows += [
        _row("gateway CPU per delivered message", f"{eff['gateway_cpu_us_per_delivered']} µs"),
        _row("all servers' CPU per delivered message", f"{eff['servers_cpu_us_per_delivered']} µs"),
        _row(
            "generator",
            f"busiest worker {gen['busiest_worker_cpu_pct']}% CPU, send lag p99 "
            f"{gen['send_lag_ms']['p99']} ms → kept up: {gen['kept_up']}",
        ),
    ]
    if restarted := result.get("restart"):
        rows += _restart_rows(restarted)
    if ceil["database"]:
        db = ceil["database"]
        rows.append(
            _row(
                "ceiling: database alone",
                f"{db['messages_per_s']} msg/s "
                f"({db['connections']} conns x {db['pipeline']} pipelined)",
            )
        )
    if ceil["transport"]:
        ws = ceil["transport"]
        rows.append(
            _row("ceiling: WebSocket transport alone", f"{ws['delivered_per_s']} deliveries/s")
        )
    if ceil.get("hop"):
        hop = ceil["hop"]
        rows.append(
            _row(
                "machine: one blocking round trip between two processes",
                f"{hop['wall_us']} µs, {hop['cpu_us']} µs of CPU (both sides)",
            )
        )
    rows.append(
        _row(
            "our rate as a fraction of the ceilings",
            f"DB {frac['acked_per_s_of_database_ceiling']}, "
            f"WS {frac['delivered_per_s_of_transport_ceiling']}",
        )
    )
    busy = ", ".join(m["other_busy_processes_at_start"])
    head = (
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB; load average "
        f"{m['load_avg_1m_at_start']} at start{'; busy at start: ' + busy if busy else ''}.\n\n"
        f"Command: `{result['command']}`\n"
    )
    return head + "\n" + "\n".join(rows) + "\n"


def _restart_rows(r: dict[str, Any]) -> list[str]:
    target = r["target"]
    return [
        _row(
            "restart: old gateway stopped (SIGTERM) / new one's /readyz 200 after its start",
            f"{r['old_gateway_stopped_s']} s / {r['readyz_after_start_s']} s",
        ),
        _row(
            f"restart: all {r['sockets']} sockets live after the new process's start "
            "(after its /readyz 200)",
            f"{r['all_live_after_start_s']} s ({r['all_live_after_readyz_s']} s); "
            f"target ≤ {target['all_live_within_s']:g} s met: {target['met']}",
        ),
        _row(
            "restart: live sockets/s, connect attempts, not live / not connected",
            f"{r['live_per_s']}, {r['attempts']}, {r['not_live']} / {r['not_connected']}",
        ),
        _row("restart: connect→ready ms p50/p95/p99/max", _ms(r["live_ms"])),
        _row("restart: upstream sockets / channels once all live", _pair(r["upstream"])),
    ]


def write(result: dict[str, Any], table: str, out: Path, results_md: Path | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    if results_md is not None:
        results_md.write_text(
            "# Latest benchmark result\n\n"
            f"Run at {result['started_at']}; JSON schema {result['schema']}. Produced by the "
            "command below; see README.md for what each row means. The machine may be shared:\n"
            "the row *other processes on the machine* says how busy it was besides us.\n\n" + table
        )


def _per_group(cpu: dict[str, float] | None) -> str:
    if not cpu:
        return "—"
    return ", ".join(f"{name} {value:g}" for name, value in cpu.items())
