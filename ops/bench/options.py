"""Command-line options of the benchmark, parsed once into a frozen, validated `Options`.

Every option is bounded (users, rate, time, payload) so a typo cannot start an unbounded
run, and every target must be on the loopback interface.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_USERS = 20_000
MAX_RATE = 50_000.0
MAX_SECONDS = 3_600.0
MAX_MESSAGES = 2_000_000
MAX_PAYLOAD = 4_000  # the gateway's default limits.message_max_chars
MAX_WORKERS = 32
WS_IN_FLIGHT = 512  # the transport ceiling keeps this many frames in flight by default


@dataclass(frozen=True)
class Target:
    """Running servers to measure instead of starting our own (all optional)."""

    gateway_url: str | None = None  # ws://127.0.0.1:8001 or http://…
    supabase_url: str | None = None
    anon_key: str | None = None
    service_key: str | None = None
    jwt_secret: str | None = None
    database_url: str | None = None
    gateway_pid: int | None = None
    embedded_pid: int | None = None


@dataclass(frozen=True)
class Options:
    users: int = 20
    rate: float = 50.0
    duration: float = 10.0
    warmup: float = 2.0
    payload: int = 100
    group_size: int = 2
    workers: int = 1
    arrivals: str = "constant"
    seed: int = 1
    connect_concurrency: int = 50
    drain_timeout: float = 15.0
    linger: float = 0.5
    settle: float = 1.0
    sample_interval: float = 0.5
    ceiling_seconds: float = 5.0
    ceilings: bool = True
    db_connections: int = 8
    db_pipeline: int = 8
    ws_window: int = 4
    out: Path = RESULTS_DIR / "latest.json"
    write_results_md: bool = False
    keep_data: bool = False
    joins_per_second: float = 100.0
    restart: bool = False
    target: Target = Target()

    @property
    def total_messages(self) -> int:
        return round(self.rate * (self.warmup + self.duration))

    def public(self) -> dict[str, Any]:
        """The options for the result file, with secrets left out."""
        data = asdict(self)
        data["out"] = str(self.out)
        target = data.pop("target")
        for secret in ("anon_key", "service_key", "jwt_secret", "database_url"):
            target[secret] = "<set>" if target[secret] else None
        data["target"] = target
        return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops.bench",
        description="Open-loop load generator for the chat gateway (see ops/bench/README.md).",
    )
    add = p.add_argument
    add("--users", type=int, default=20, help="sockets, one user each (default 20)")
    add("--rate", type=float, default=50.0, help="messages/s offered in total (default 50)")
    add("--duration", type=float, default=10.0, help="measured seconds (default 10)")
    add("--warmup", type=float, default=2.0, help="seconds sent first, not measured (default 2)")
    add("--payload", type=int, default=100, help="message_text length in bytes (default 100)")
    add("--group-size", type=int, default=2, help="members per chat; only 2 (direct chats)")
    add("--workers", type=int, default=1, help="client processes to shard sockets over")
    add("--arrivals", choices=("constant", "poisson"), default="constant")
    add("--seed", type=int, default=1, help="seed of the send schedule")
    add("--connect-concurrency", type=int, default=50, help="connects in flight per worker")
    add("--drain-timeout", type=float, default=15.0, help="wait this long for stragglers")
    add("--ceiling-seconds", type=float, default=5.0, help="length of each ceiling run")
    add("--no-ceilings", dest="ceilings", action="store_false", help="skip both ceilings")
    add("--db-connections", type=int, default=8, help="DB ceiling: connections")
    add("--db-pipeline", type=int, default=8, help="DB ceiling: transactions per round trip")
    add(
        "--ws-window",
        type=int,
        default=0,
        help="WS ceiling: messages in flight per sender (default: enough for 512 in all)",
    )
    add("--out", type=Path, default=None, help="JSON result (default results/<time>.json)")
    add("--write-results-md", action="store_true", help="also replace ops/bench/RESULTS.md")
    add("--keep-data", action="store_true", help="keep the embedded stack's data directory")
    add(
        "--joins-per-second",
        type=float,
        default=100.0,
        help="the started gateway's upstream channel joins/s (Supabase Free 100, Pro 500)",
    )
    add(
        "--restart",
        action="store_true",
        help="after the load, restart the gateway and time every client's reconnect",
    )
    add("--gateway-url", help="measure this running gateway instead of starting one")
    add("--supabase-url", help="its Supabase (embedded) URL")
    add("--anon-key")
    add("--service-key", help="creates users through the admin API")
    add("--jwt-secret", help="signs user tokens (else users sign up with a password)")
    add("--database-url", help="for the database ceiling")
    add("--gateway-pid", type=int, help="sample this gateway process")
    add("--embedded-pid", type=int, help="sample this embedded stack process (and its children)")
    return p


def _check_loopback(parser: argparse.ArgumentParser, name: str, url: str | None) -> None:
    if url is None:
        return
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        parser.error(f"{name} must be on 127.0.0.1 (got host {host!r})")


def _check_ranges(parser: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    checks = [
        (2 <= a.users <= MAX_USERS, f"--users must be 2..{MAX_USERS}"),
        (0 < a.rate <= MAX_RATE, f"--rate must be in (0, {MAX_RATE:g}]"),
        (0 < a.duration <= MAX_SECONDS, f"--duration must be in (0, {MAX_SECONDS:g}]"),
        (0 <= a.warmup <= MAX_SECONDS, f"--warmup must be in [0, {MAX_SECONDS:g}]"),
        (1 <= a.payload <= MAX_PAYLOAD, f"--payload must be 1..{MAX_PAYLOAD}"),
        (
            a.group_size == 2,
            "--group-size: only 2 (direct chats) until group chats exist in the schema",
        ),
        (a.users % a.group_size == 0, "--users must be a multiple of --group-size"),
        (1 <= a.workers <= MAX_WORKERS, f"--workers must be 1..{MAX_WORKERS}"),
        (a.workers * a.group_size <= a.users, "each worker needs at least one chat"),
        (a.rate * (a.warmup + a.duration) <= MAX_MESSAGES, f"at most {MAX_MESSAGES} messages"),
        (1 <= a.connect_concurrency <= 1000, "--connect-concurrency must be 1..1000"),
        (0 < a.drain_timeout <= 300, "--drain-timeout must be in (0, 300]"),
        (0 < a.ceiling_seconds <= 600, "--ceiling-seconds must be in (0, 600]"),
        (1 <= a.db_connections <= 64, "--db-connections must be 1..64"),
        (1 <= a.db_pipeline <= 256, "--db-pipeline must be 1..256"),
        (0 <= a.ws_window <= 256, "--ws-window must be 0 (auto)..256"),
        (0 < a.joins_per_second <= 100_000, "--joins-per-second must be in (0, 100000]"),
    ]
    for ok, message in checks:
        if not ok:
            parser.error(message)
    if a.gateway_url and not a.supabase_url:
        parser.error("--gateway-url needs --supabase-url (users are created there)")
    if a.supabase_url and not (a.service_key or a.anon_key):
        parser.error("--supabase-url needs --service-key or --anon-key")
    if a.restart and a.gateway_url:
        parser.error("--restart restarts only a gateway the bench started (no --gateway-url)")
    if a.supabase_url and not a.gateway_url:
        parser.error("--supabase-url needs --gateway-url too")


SECRET_FLAGS = ("--anon-key", "--service-key", "--jwt-secret", "--database-url")


def redacted(argv: Sequence[str]) -> list[str]:
    """The command line with secret values replaced, for the result files."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if hide_next:
            out.append("<redacted>")
        elif flag in SECRET_FLAGS and "=" in arg:
            out.append(f"{flag}=<redacted>")
        else:
            out.append(arg)
        hide_next = arg in SECRET_FLAGS
    return out


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = _parser()
    a = parser.parse_args(argv)
    _check_ranges(parser, a)
    for name in ("gateway_url", "supabase_url", "database_url"):
        _check_loopback(parser, "--" + name.replace("_", "-"), getattr(a, name))
    out = a.out or RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    target = Target(
        gateway_url=a.gateway_url,
        supabase_url=a.supabase_url,
        anon_key=a.anon_key,
        service_key=a.service_key,
        jwt_secret=a.jwt_secret,
        database_url=a.database_url,
        gateway_pid=a.gateway_pid,
        embedded_pid=a.embedded_pid,
    )
    return Options(
        users=a.users,
        rate=a.rate,
        duration=a.duration,
        warmup=a.warmup,
        payload=a.payload,
        group_size=a.group_size,
        workers=a.workers,
        arrivals=a.arrivals,
        seed=a.seed,
        connect_concurrency=a.connect_concurrency,
        drain_timeout=a.drain_timeout,
        ceiling_seconds=a.ceiling_seconds,
        ceilings=a.ceilings,
        db_connections=a.db_connections,
        db_pipeline=a.db_pipeline,
        ws_window=a.ws_window or max(4, -(-WS_IN_FLIGHT // a.users)),
        out=out,
        write_results_md=a.write_results_md,
        keep_data=a.keep_data,
        joins_per_second=a.joins_per_second,
        restart=a.restart,
        target=target,
    )
