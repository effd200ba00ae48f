"""The shape comparison's verdict and its Markdown table (one row per shape and mode)."""

from __future__ import annotations

from typing import Any

SHAPE_NAMES = {
    "broadcast": "broadcast topics (chats:<k>)",
    "changes": "Postgres Changes",
    "changes-lean": "Postgres Changes, no chats: rows",
}
HEADER = (
    "| shape | mode | committed msg/s | delivered msg/s | ms from sent p50 / p99 "
    "| ms from commit p50 / p99 | embedded µs/msg | PostgreSQL µs/msg "
    "| realtime.messages rows/msg | missing / duplicates |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def conclude(result: dict[str, Any]) -> None:
    """`verdict.correct`: every committed message reached the subscriber exactly once."""
    problems: dict[str, int] = {}
    for shape, modes in result["shapes"].items():
        for mode, section in modes.items():
            if mode == "subscription":
                continue
            counts = section["counts"]
            for kind in ("missing", "duplicates", "unexpected"):
                if counts[kind]:
                    problems[f"{shape}.{mode}.{kind}"] = counts[kind]
            if not section["drained"]:
                problems[f"{shape}.{mode}.drain_timed_out"] = 1
    result["verdict"] = {"correct": not problems, "violations": problems}


def _p(lat: dict[str, Any]) -> str:
    return "n/a" if not lat["count"] else f"{lat['p50']:.1f} / {lat['p99']:.1f}"


def _row(shape: str, section: dict[str, Any]) -> str:
    mode = "max" if section["mode"] == "max" else f"{section['offered_per_s']:g} msg/s"
    cpu = section["cpu_us_per_message"]["until_drained"]
    lat, counts = section["latency_ms"], section["counts"]
    cells = [
        SHAPE_NAMES[shape],
        mode,
        section["committed_per_s"],
        section["delivered_per_s"],
        _p(lat["from_sent"]),
        _p(lat["from_commit"]),
        cpu["embedded"],
        cpu["postgres"],
        section["realtime_rows_per_message"],
        f"{counts['missing']} / {counts['duplicates']}",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(result: dict[str, Any]) -> str:
    o, m = result["options"], result["machine"]
    rows = [
        _row(shape, section)
        for shape, modes in result["shapes"].items()
        for mode, section in modes.items()
        if mode != "subscription"
    ]
    head = (
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB; load average "
        f"{m['load_avg_1m_at_start']} at start.\n\n"
        f"Command: `{result['command']}`\n\n"
        f"{o['users']} users in {o['users'] // 2} direct chats, {o['payload']} B text, "
        f"{o['duration']:g} s measured after {o['warmup']:g} s warm-up per mode; the database "
        f"driven directly over {o['db_connections']} connections (up to {o['db_pipeline']} "
        "transactions per round trip); one service_role subscriber, no gateway. CPU per "
        "message: from the mode's start until every message was received, ÷ messages sent.\n"
    )
    lean = result.get("lean_trigger")
    if lean:
        head += f"\n*no chats: rows*: `{lean['function']}` without `{lean['removed']}`.\n"
    verdict = result["verdict"]
    tail = f"\nEvery committed message received exactly once: {verdict['correct']}"
    tail += f" {verdict['violations']}\n" if verdict["violations"] else "\n"
    return head + "\n" + HEADER + "\n" + "\n".join(rows) + "\n" + tail
