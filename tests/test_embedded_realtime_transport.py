"""The Realtime socket's transport: upgrade auth, versions, heartbeats, idle close, bad frames."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import jwt
import pytest

from tests.realtime_helpers import (
    FAST,
    RealtimeStack,
    client,
    raw_socket,
    realtime_stack,
    v1,
)


async def upgrade(url: str, headers: dict[str, str] | None = None) -> tuple[int, object]:
    """Status and JSON body of a refused upgrade (a WebSocket client only sees the status)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(
            url,
            headers={
                **(headers or {}),
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body


def signed(stack: RealtimeStack, claims: dict[str, object], secret: str | None = None) -> str:
    return jwt.encode(claims, secret or stack.config.jwt_secret, algorithm="HS256")


# Realtime's own upgrade checks, on its own path (/socket/websocket, no API gateway in front:
# the gateway lets only project keys through, see tests/test_embedded_api_keys.py).
DIRECT = "/socket"


async def test_an_upgrade_without_api_key_is_refused_with_401(stack: RealtimeStack) -> None:
    url = stack.url.replace("http", "ws") + f"{DIRECT}/websocket?vsn=1.0.0"
    assert await upgrade(url) == (401, {"error": "API key is missing"})


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda s: "not-a-jwt", "The token provided is not a valid JWT"),
        (lambda s: "sb_publishable_unknown", "The token provided is not a valid JWT"),
        (lambda s: signed(s, {"role": "anon", "exp": int(time.time()) - 10}), "Token has expired"),
        (lambda s: signed(s, {"role": "anon"}), "Fields `role` and `exp` are required in JWT"),
        (
            lambda s: signed(s, {"role": "anon", "exp": int(time.time()) + 60}, "x" * 40),
            "Failed to validate JWT signature",
        ),
    ],
)
async def test_a_bad_api_key_is_refused_with_supabase_error_text(
    stack: RealtimeStack, make_token: object, message: str
) -> None:
    token = make_token(stack)  # type: ignore[operator]
    assert await upgrade(stack.ws_url(apikey=token, path=DIRECT)) == (401, {"error": message})


async def test_the_x_api_key_header_wins_over_the_query_parameter(stack: RealtimeStack) -> None:
    status, body = await upgrade(stack.ws_url(path=DIRECT), headers={"x-api-key": "garbage"})
    assert (status, body) == (401, {"error": "The token provided is not a valid JWT"})
    async with raw_socket(
        stack.ws_url(apikey="garbage", path=DIRECT), headers={"x-api-key": stack.anon_key}
    ) as sock:
        await sock.send(v1("phoenix", "heartbeat", {}, "1"))
        assert (await sock.recv())["payload"] == {"status": "ok", "response": {}}


async def test_publishable_and_secret_keys_are_accepted(stack: RealtimeStack) -> None:
    for key in (stack.config.publishable_key, stack.config.secret_key):
        async with raw_socket(stack.ws_url(apikey=key)) as sock:
            await sock.send(v1("realtime:room", "phx_join", {"config": {}}, "1", "1"))
            assert (await sock.recv())["payload"]["status"] == "ok"


async def test_an_unknown_protocol_version_is_refused_with_403(stack: RealtimeStack) -> None:
    assert (await upgrade(stack.ws_url(vsn="3.0.0")))[0] == 403


async def test_realtime_py_gives_up_when_the_key_is_refused(stack: RealtimeStack) -> None:
    rt = client(stack, apikey="not-a-jwt")
    with pytest.raises(Exception, match="HTTP 401"):
        await rt.connect()


async def test_the_socket_path_of_self_hosted_realtime_works_too(stack: RealtimeStack) -> None:
    url = stack.url.replace("http", "ws") + f"/socket/websocket?apikey={stack.anon_key}"
    async with raw_socket(url) as sock:
        await sock.send(v1("phoenix", "heartbeat", {}, None))
        assert await sock.recv() == {
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {}},
            "ref": None,
        }


async def test_a_v2_heartbeat_is_answered_with_an_array(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send([None, "26", "phoenix", "heartbeat", {}])
        assert await sock.recv() == [
            None,
            "26",
            "phoenix",
            "phx_reply",
            {"status": "ok", "response": {}},
        ]


async def test_malformed_frames_are_dropped_and_the_socket_stays_open(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        for junk in ("not json", '{"topic":"x"}', "[1,2]", b"\x00\x01", b"\x03\xff"):
            await sock.send(junk)
        await sock.send([None, "7", "phoenix", "heartbeat", {}])
        assert (await sock.recv())[1] == "7"
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send('{"topic":"phoenix","event":"heartbeat","payload":{}}')  # no ref key
        await sock.send(v1("phoenix", "heartbeat", {}, "8"))
        assert (await sock.recv())["ref"] == "8"


async def test_websocket_pings_are_answered(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(), autoping=False) as sock:
        await sock.ws.ping(b"hi")
        msg = await sock.ws.receive(timeout=5)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"hi")


async def test_a_frame_over_the_size_limit_closes_the_socket(
    database_url: str, tmp_path: Path
) -> None:
    settings = replace(FAST, max_frame_bytes=1000)
    async with (
        realtime_stack(database_url, tmp_path, settings) as stack,
        raw_socket(stack.ws_url()) as sock,
    ):
        await sock.send(v1("realtime:room", "broadcast", {"x": "y" * 2000}, None))
        msg = await sock.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_an_idle_socket_is_closed_and_a_chatty_one_is_not(
    database_url: str, tmp_path: Path
) -> None:
    settings = replace(FAST, idle_timeout_seconds=0.4)
    async with realtime_stack(database_url, tmp_path, settings) as stack:
        async with raw_socket(stack.ws_url()) as chatty:
            for ref in ("1", "2", "3", "4"):  # ~0.2 s between frames, 0.8 s in all
                await chatty.send(v1("phoenix", "heartbeat", {}, ref))
                assert (await chatty.recv())["ref"] == ref
                assert await chatty.silent(0.2)
        async with raw_socket(stack.ws_url()) as idle:
            started = time.monotonic()
            msg = await idle.ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert msg.data == aiohttp.WSCloseCode.OK
            assert time.monotonic() - started >= 0.3


async def test_stopping_the_server_closes_sockets_with_going_away(
    database_url: str, tmp_path: Path
) -> None:
    async with realtime_stack(database_url, tmp_path) as stack:
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(stack.ws_url())
        received: asyncio.Task[aiohttp.WSMessage] = asyncio.create_task(ws.receive(timeout=10))
    try:
        msg = await received
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
    finally:
        await ws.close()
        await session.close()
