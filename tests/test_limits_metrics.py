"""/metrics answers only its bearer token (`server.metrics_token`, what Prometheus sends
with `authorization: credentials`); with none configured it does not exist. On main it
answered anyone: load, error counts and upstream shape to any visitor."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, build_config, effective
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    METRICS_TOKEN,
    Gateway,
    api,
    gateway_config,
    metrics,
    running_gateway,
)


async def test_without_a_token_configured_metrics_does_not_exist(
    embedded: EmbeddedStack,
) -> None:
    config = gateway_config(embedded, server={"metrics_token": ""})
    async with running_gateway(config, embedded) as gw:
        status, answer = await api(gw, "GET", "/metrics")
        assert (status, answer["error"]["code"]) == (404, "not_found")
        status, _ = await api(gw, "GET", "/metrics", token="anything-at-all-really")
        assert status == 404


async def test_metrics_wants_its_bearer_token(gateway: Gateway) -> None:
    status, answer = await api(gateway, "GET", "/metrics")
    assert (status, answer["error"]["code"]) == (401, "auth_required")
    status, answer = await api(gateway, "GET", "/metrics", token=METRICS_TOKEN + "x")
    assert (status, answer["error"]["code"]) == (401, "token_invalid")
    status, answer = await api(
        gateway, "GET", "/metrics", params={"token": METRICS_TOKEN}
    )  # never in a URL, where logs keep it
    assert status == 401
    assert "gateway_sockets 0.0" in await metrics(gateway)


def test_a_short_metrics_token_is_refused_and_the_token_is_masked() -> None:
    with pytest.raises(ConfigError, match=r"server\.metrics_token"):
        build_config({"server": {"metrics_token": "short"}})
    config = build_config({"server": {"metrics_token": METRICS_TOKEN}})
    assert METRICS_TOKEN not in str(effective(config))
