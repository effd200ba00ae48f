"""Command-line options of the shape comparison, parsed once into a frozen `ShapeOptions`;
bounded like the main benchmark's (ops/bench/options.py)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ops.bench.options import (
    MAX_MESSAGES,
    MAX_PAYLOAD,
    MAX_RATE,
    MAX_SECONDS,
    MAX_USERS,
    RESULTS_DIR,
)

# In the order they run: changes-lean changes the database's trigger, so it comes last.
SHAPES = ("broadcast", "changes", "changes-lean")
MODES = ("rate", "max")


@dataclass(frozen=True)
class ShapeOptions:
    shapes: tuple[str, ...] = SHAPES
    modes: tuple[str, ...] = MODES
    users: int = 200
    rate: float = 200.0
    duration: float = 10.0
    warmup: float = 2.0
    payload: int = 100
    arrivals: str = "constant"
    seed: int = 1
    db_connections: int = 8
    db_pipeline: int = 8
    drain_timeout: float = 15.0
    out: Path = RESULTS_DIR / "shapes.json"
    keep_data: bool = False

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


def _names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return tuple(n for n in allowed if n in names)  # in the order they must run

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops.bench.shapes",
        description="Broadcast topics vs Postgres Changes on the embedded stack, no gateway "
        "(see ops/bench/README.md).",
    )
    add = p.add_argument
    add("--shapes", type=_names(SHAPES), default=SHAPES, help=f"any of {','.join(SHAPES)}")
    add("--modes", type=_names(MODES), default=MODES, help="rate (--rate msg/s), max, or both")
    add("--users", type=int, default=200, help="users; users/2 direct chats (default 200)")
    add("--rate", type=float, default=200.0, help="offered msg/s in `rate` mode (default 200)")
    add("--duration", type=float, default=10.0, help="measured seconds per mode (default 10)")
    add("--warmup", type=float, default=2.0, help="seconds sent first, not measured")
    add("--payload", type=int, default=100, help="message text length (default 100)")
    add("--arrivals", choices=("constant", "poisson"), default="constant")
    add("--seed", type=int, default=1)
    add("--db-connections", type=int, default=8, help="database connections (default 8)")
    add("--db-pipeline", type=int, default=8, help="most transactions per round trip")
    add("--drain-timeout", type=float, default=15.0, help="wait this long for stragglers")
    add("--out", type=Path, default=None, help="JSON result (default results/shapes-<time>.json)")
    add("--keep-data", action="store_true", help="keep the embedded stack's data directory")
    return p


def parse_shape_options(argv: Sequence[str] | None = None) -> ShapeOptions:
    parser = _parser()
    a = parser.parse_args(argv)
    checks = [
        (2 <= a.users <= MAX_USERS and a.users % 2 == 0, f"--users must be even, 2..{MAX_USERS}"),
        (0 < a.rate <= MAX_RATE, f"--rate must be in (0, {MAX_RATE:g}]"),
        (0 < a.duration <= MAX_SECONDS, f"--duration must be in (0, {MAX_SECONDS:g}]"),
        (0 <= a.warmup <= MAX_SECONDS, f"--warmup must be in [0, {MAX_SECONDS:g}]"),
        (a.rate * (a.warmup + a.duration) <= MAX_MESSAGES, f"at most {MAX_MESSAGES} messages"),
        (1 <= a.payload <= MAX_PAYLOAD, f"--payload must be 1..{MAX_PAYLOAD}"),
        (1 <= a.db_connections <= 64, "--db-connections must be 1..64"),
        (1 <= a.db_pipeline <= 256, "--db-pipeline must be 1..256"),
        (0 < a.drain_timeout <= 300, "--drain-timeout must be in (0, 300]"),
    ]
    for ok, message in checks:
        if not ok:
            parser.error(message)
    out = a.out or RESULTS_DIR / f"shapes-{time.strftime('%Y%m%d-%H%M%S')}.json"
    return ShapeOptions(
        shapes=a.shapes,
        modes=a.modes,
        users=a.users,
        rate=a.rate,
        duration=a.duration,
        warmup=a.warmup,
        payload=a.payload,
        arrivals=a.arrivals,
        seed=a.seed,
        db_connections=a.db_connections,
        db_pipeline=a.db_pipeline,
        drain_timeout=a.drain_timeout,
        out=out,
        keep_data=a.keep_data,
    )
