"""Frames that do no work are bounded per socket: pings (WebSocket pings and
`{"type":"ping"}` frames) and frames refused as bad input each draw on a token bucket of
the socket's own (`limits.ws_ping_*`, `limits.ws_invalid_*`); past it the socket is closed
with 4029 `rate_limit_flood`, as OWASP's WebSocket cheat sheet asks of message floods and
Centrifugo closes a client over its limits. The user's other sockets carry on.
"""

from __future__ import annotations

import pytest

from gateway.config import Config
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import Client, User, connect, gateway_config, running_gateway

BURST = 5


def flood_config(embedded: EmbeddedStack) -> Config:
    return gateway_config(
        embedded,
        limits={
            "ws_ping_rate": 0.5,
            "ws_ping_burst": BURST,
            "ws_invalid_rate": 0.5,
            "ws_invalid_burst": BURST,
        },
    )


async def _one_over(client: Client, kind: str) -> None:
    for _ in range(BURST + 1):
        if kind == "ping frames":
            await client.send({"type": "ping"})
        elif kind == "websocket pings":
            await client.ws.ping()
        elif kind == "invalid json":
            await client.send_raw("{not json")
        else:  # a well-formed frame of no known type
            await client.send({"type": "nonsense"})


@pytest.mark.parametrize("kind", ["ping frames", "websocket pings", "invalid json", "unknown type"])
async def test_a_socket_flooding_frames_that_do_no_work_is_closed_with_4029(
    embedded: EmbeddedStack, alice: User, bob: User, kind: str
) -> None:
    config = flood_config(embedded)
    async with (
        running_gateway(config, embedded) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as flooder,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as calm,
    ):
        await _one_over(flooder, kind)
        assert await flooder.wait_closed() == 4029
        answers = []
        while not flooder.frames.empty():
            answers.append(flooder.frames.get_nowait())
        if kind == "ping frames":
            assert [a["type"] for a in answers if a["type"] == "pong"] == ["pong"] * BURST
        elif kind != "websocket pings":
            refused = [a for a in answers if a["type"] == "error"]
            assert len(refused) == BURST + 1  # BURST answered, then the flood
            assert refused[-1]["code"] == "rate_limit_flood"
        # The budget is the socket's own: the user's other socket still works.
        await calm.send({"type": "ping"})
        assert (await calm.next("pong"))["type"] == "pong"
        await calm.send({"type": "chat", "message": "still here"})
        assert (await calm.next("ack"))["message"]["message_text"] == "still here"


async def test_within_the_budget_a_socket_stays_open(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    config = flood_config(embedded)
    async with (
        running_gateway(config, embedded) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as client,
    ):
        for _ in range(BURST):
            await client.send({"type": "ping"})
            await client.send_raw("{not json")
        await client.send({"type": "chat", "message": "after"})
        kinds: list[object] = []
        while not kinds or kinds[-1] != "ack":
            kinds.append((await client.next()).get("type"))
        assert kinds.count("pong") == BURST and kinds.count("error") == BURST
        assert not client.closed.is_set()
