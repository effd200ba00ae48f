"""Size limits kept from before, covered here through real sockets: an inbound frame over
`limits.ws_max_frame_bytes` closes the socket with 1009 (RFC 6455 "message too big", as
Centrifugo's `websocket.message_size_limit`), and a REST body over 256 KB is answered 413
`frame_too_large`; the other sockets carry on."""

from __future__ import annotations

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import User, api, connect, gateway_config, running_gateway


async def test_a_frame_over_the_limit_closes_only_its_socket_with_1009(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    config = gateway_config(embedded, limits={"ws_max_frame_bytes": 1024})
    async with (
        running_gateway(config, embedded) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as big,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as small,
    ):
        await big.send({"type": "chat", "message": "x" * 2000})
        assert await big.wait_closed() == 1009
        await small.send({"type": "chat", "message": "x" * 900})
        assert (await small.next("ack"))["message"]["message_text"] == "x" * 900


async def test_a_rest_body_over_the_limit_is_answered_413(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with running_gateway(gateway_config(embedded), embedded) as gw:
        status, answer = await api(
            gw,
            "POST",
            f"/api/chat/{bob.id}/send",
            token=alice.token,
            data='{"message_text": "' + "x" * 300_000 + '"}',
            headers={"Content-Type": "application/json"},
        )
        assert (status, answer["error"]["code"]) == (413, "frame_too_large")
