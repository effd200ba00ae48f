"""The monitoring files in ops/ against a real gateway's /metrics: the Grafana dashboard
(ops/grafana/gateway.json) and the Prometheus alert rules (ops/prometheus/alerts.yml) are
valid, every PromQL expression parses (promql-parser, the Rust parser behind GreptimeDB,
standing in for `promtool check rules`), and every metric they name is one the gateway
exports; the README's metrics table lists exactly what it exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway_helpers import Gateway, metrics, until_ready

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "ops" / "grafana" / "gateway.json"
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


async def exported(gateway: Gateway) -> dict[str, str]:
    """Every series name the gateway's /metrics can carry, with its family's type."""
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(await metrics(gateway)):
        for suffix in SUFFIXES[family.type]:
            names[family.name + suffix] = family.type
    return names


def selectors(expr: str) -> set[str]:
    """The metric names an expression selects (it must parse as PromQL)."""
    found: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def dashboard_exprs() -> list[str]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


async def test_every_dashboard_query_selects_metrics_the_gateway_exports(
    gateway: Gateway,
) -> None:
    names = await exported(gateway)
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    for expr in exprs:
        used = selectors(expr)
        assert used and used <= set(names), f"{expr}: {used - set(names)} not exported"


async def test_alert_rules_are_valid_and_select_exported_metrics(gateway: Gateway) -> None:
    names = await exported(gateway)
    rules = alert_rules()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Z]\w+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        used = selectors(rule["expr"])
        assert used and used <= set(names), f"{rule['alert']}: {used - set(names)}"
    watched = set().union(*(selectors(r["expr"]) for r in rules))
    # Upstream disconnected, queue overflows (upstream and per socket), error rates,
    # recovery backlog.
    assert {
        "gateway_upstream_live",
        "gateway_upstream_events_dropped_total",
        "gateway_errors_total",
        "gateway_recovery_backlog",
    } <= watched
    assert any('code="slow_consumer"' in r["expr"] for r in rules)


async def test_the_readme_lists_every_exported_metric(gateway: Gateway) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    families = {f.name: f.type for f in text_string_to_metric_families(await metrics(gateway))}
    for name, kind in families.items():
        if name.endswith("_created"):  # the client library's timestamp beside each counter
            continue
        shown = name + ("_total" if kind == "counter" else "")
        assert f"| `{shown}` | {kind} |" in readme, f"README lacks {shown}"


async def test_the_alerting_metrics_read_the_gateways_state(gateway: Gateway) -> None:
    """A ready gateway holds its topics: upstream live, nothing dropped or backlogged."""
    await until_ready(gateway)
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(await metrics(gateway))
        for sample in family.samples
    }
    assert values["gateway_upstream_live"] == 1.0
    assert values["gateway_upstream_events_dropped_total"] == 0.0
    assert values["gateway_upstream_event_queue"] == 0.0
    assert values["gateway_recovery_backlog"] == 0.0
