"""Realtime delivers at most once: a gateway finds a message lost at the tail of a chat
within `delivery.position_check_seconds`, without waiting for a later message; and its
/readyz says when the change feed stops moving. Broadcasts are dropped with the embedded
stack's in-process fault hook (gateway/embedded/faults.py), the upstream staying up."""

from __future__ import annotations

from typing import Any

from gateway.embedded.appkeys import faults_key
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    User,
    api,
    connect,
    gateway_config,
    rest_send,
    running_gateway,
    until_ready,
)

WAIT = 10.0


def _drop_gateway_copy_of(seq: int) -> Any:
    """Drop the message `seq` on the gateways' chats: topics (direct subscribers' user:
    topics still get it), as if Realtime had lost it."""

    def drop(topic: str, event: str, payload: dict[str, Any]) -> bool:
        return topic.startswith("chats:") and event == "message" and payload.get("seq") == seq

    return drop


async def test_a_lost_last_message_arrives_by_the_position_check(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    config = gateway_config(embedded, delivery={"position_check_seconds": 0.5})
    async with (
        running_gateway(config, embedded) as gw,
        connect(gw, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        assert (await rest_send(gw, alice, bob, "one"))["seq"] == 1
        assert (await b.next("message"))["message"]["seq"] == 1
        embedded.app[faults_key].drop_broadcast = _drop_gateway_copy_of(2)
        try:
            assert (await rest_send(gw, alice, bob, "the last word"))[
                "seq"
            ] == 2  # nothing comes after
            message = (await b.next("message", timeout=WAIT))["message"]
        finally:
            embedded.app[faults_key].drop_broadcast = None
        assert (message["seq"], message["message_text"]) == (2, "the last word")
        await b.nothing("message")
        status, text = await api(gw, "GET", "/metrics", token=gw.config.server.metrics_token)
        assert status == 200
        assert "gateway_messages_recovered_total 1.0" in text


async def test_without_the_position_check_the_lost_last_message_would_stay_lost(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """The control: with a check interval far beyond the wait, the dropped message does
    not arrive — so the test above measures the position check, not a second path."""
    config = gateway_config(embedded, delivery={"position_check_seconds": 10})
    async with (
        running_gateway(config, embedded) as gw,
        connect(gw, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        (await rest_send(gw, alice, bob, "one"))["seq"]
        await b.next("message")
        embedded.app[faults_key].drop_broadcast = _drop_gateway_copy_of(2)
        try:
            (await rest_send(gw, alice, bob, "lost"))["seq"]
            await b.nothing("message", quiet=2.0)
        finally:
            embedded.app[faults_key].drop_broadcast = None


async def test_readyz_fails_while_the_change_feed_loses_everything_and_recovers(
    embedded: EmbeddedStack,
) -> None:
    config = gateway_config(
        embedded, delivery={"position_check_seconds": 0.2, "max_feed_lag_seconds": 0.5}
    )
    async with running_gateway(config, embedded) as gw:
        await until_ready(gw, True)
        embedded.app[faults_key].drop_broadcast = lambda topic, event, payload: True
        try:
            answer = await until_ready(gw, False)
            assert answer["checks"] == {"database": True, "realtime": True, "change_feed": False}
            assert answer["change_feed_lag_seconds"] > 0.5
        finally:
            embedded.app[faults_key].drop_broadcast = None
        await until_ready(gw, True)
