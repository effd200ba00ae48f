"""Per-user rate limits through real sockets and REST on the embedded stack: sends, typing,
read markers and resumes are counted per user across all their sockets and REST; over
the limit a frame gets `rate_limited` and the socket stays open, REST answers 429 with
Retry-After; a socket that keeps flooding is closed with 4029.

Shapes followed: Retry-After in whole seconds on a 429 (RFC 9110 §10.2.3, as Supabase
Auth's `over_request_rate_limit` answers); a per-user bucket with a burst, and closing a
client that keeps going (OWASP WebSocket cheat sheet "rate limiting"; Centrifugo PRO's
per-user operation buckets and disconnect of abusive clients).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    api,
    connect,
    gateway_config,
    rest_send,
    running_gateway,
    sign_up,
)

SLOW = 0.01  # tokens per second: a refused action stays refused for the test's life


@asynccontextmanager
async def limited(embedded: EmbeddedStack, **limits: Any) -> AsyncIterator[Gateway]:
    config = gateway_config(embedded, limits={"ws_flood_refusals": 1000, **limits})
    async with running_gateway(config, embedded) as gw:
        yield gw


async def test_a_burst_of_chat_frames_is_cut_at_the_limit_and_the_socket_stays_open(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """On main: 300 frames at once, 300 stored and acked."""
    async with (
        limited(embedded, send_rate=SLOW, send_burst=3) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as a,
    ):
        for n in range(10):
            await a.send({"type": "chat", "message": f"flood {n}", "client_msg_id": f"f{n}"})
        answers: list[dict[str, Any]] = []
        while len(answers) < 10:
            frame = await a.next()
            if frame["type"] in ("ack", "error"):
                answers.append(frame)
        kinds = [(f["type"], f.get("code")) for f in answers]
        assert kinds.count(("ack", None)) == 3
        assert kinds.count(("error", "rate_limited")) == 7
        refused = next(f for f in answers if f.get("code") == "rate_limited")
        assert "retry in" in refused["message"]
        await a.send({"type": "ping"})
        assert await a.next("pong") == {"type": "pong"}
        status, history = await api(gw, "GET", f"/api/chat/{bob.id}/messages", token=alice.token)
        assert status == 200
        assert [m["message_text"] for m in history["messages"]] == ["flood 0", "flood 1", "flood 2"]


async def test_the_send_limit_is_per_user_across_sockets_and_rest(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with (
        limited(embedded, send_rate=SLOW, send_burst=2) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as phone,
        connect(gw, "/ws", token=alice.token) as laptop,
    ):
        await phone.send({"type": "chat", "message": "from the phone"})
        await phone.next("ack")
        await laptop.send({"type": "chat", "message": "from the laptop", "to": bob.id})
        await laptop.next("ack")
        await laptop.send({"type": "chat", "message": "one more", "to": bob.id})
        assert (await laptop.next("error"))["code"] == "rate_limited"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{gw.url}/api/chat/{bob.id}/send",
                json={"message_text": "over REST"},
                headers={"Authorization": f"Bearer {alice.token}"},
            ) as resp,
        ):
            assert resp.status == 429
            assert (await resp.json())["error"]["code"] == "rate_limited"
            assert int(resp.headers["Retry-After"]) >= 1
        # Bob is another user: his own bucket is full.
        await rest_send(gw, bob, alice, "bob is not limited")


async def test_a_socket_that_keeps_flooding_is_closed_with_4029(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with (
        limited(embedded, send_rate=SLOW, send_burst=1, ws_flood_refusals=5) as gw,
        connect(gw, f"/ws/{bob.id}", token=alice.token) as a,
    ):
        for n in range(20):
            await a.send({"type": "chat", "message": f"flood {n}"})
        assert (await a.next("error"))["code"] == "rate_limited"
        codes = [(await a.next("error"))["code"] for _ in range(5)]
        assert codes == ["rate_limited"] * 4 + ["rate_limit_flood"]
        assert await a.wait_closed() == 4029
        # The user is not banned: another socket works (its sends still wait for tokens).
        async with connect(gw, f"/ws/{bob.id}", token=alice.token) as again:
            await again.send({"type": "ping"})
            await again.next("pong")


async def test_read_markers_are_limited_on_sockets_and_rest(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with limited(embedded, read_rate=SLOW, read_burst=2) as gw:
        message = await rest_send(gw, alice, bob, "read me")
        async with connect(gw, f"/ws/{alice.id}", token=bob.token) as b:
            await b.send({"type": "read", "seq": message["seq"]})
            await b.send({"type": "read", "seq": message["seq"]})
            await b.send({"type": "read", "seq": message["seq"]})
            assert (await b.next("error"))["code"] == "rate_limited"
        status, answer = await api(
            gw, "POST", f"/api/chat/{alice.id}/read", token=bob.token, json_body={"seq": 1}
        )
        assert (status, answer["error"]["code"]) == (429, "rate_limited")


async def test_typing_events_are_limited_per_user(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    carol = await sign_up(embedded)
    async with limited(embedded, typing_rate=SLOW, typing_burst=1) as gw:
        await rest_send(gw, bob, alice, "hi alice")
        await rest_send(gw, carol, alice, "hi alice")
        async with (
            connect(gw, "/ws", token=alice.token) as a,
            connect(gw, "/ws", token=bob.token) as b,
            connect(gw, "/ws", token=carol.token) as c,
        ):
            await a.send({"type": "typing", "to": bob.id})
            assert (await b.next("typing"))["user_id"] == alice.id
            await a.send({"type": "typing", "to": carol.id})
            assert (await a.next("error"))["code"] == "rate_limited"
            await c.nothing("typing")


async def test_resumes_are_limited_per_user(
    embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    async with limited(embedded, resume_rate=SLOW, resume_burst=1) as gw:
        await rest_send(gw, bob, alice, "one")
        async with connect(gw, "/ws", token=alice.token) as a:
            await a.send({"type": "resume", "peer_id": bob.id, "since_seq": 0})
            assert len(await a.messages(1)) == 1
            await a.send({"type": "resume", "peer_id": bob.id, "since_seq": 0})
            assert (await a.next("error"))["code"] == "rate_limited"
            await a.nothing("message")
