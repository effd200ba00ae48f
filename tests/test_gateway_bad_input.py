"""Bad input that used to crash a handler (500 on REST, 1011 on the WebSocket) gets a
catalogued error instead: digits that are not ASCII, numbers past PostgreSQL's bigint,
NUL characters, lone surrogates and JSON nested past Python's recursion limit. Over the
WebSocket the socket stays open and keeps working.

PostgreSQL's `bigint` ends at 2^63 - 1 and its `text` cannot hold U+0000 (PostgREST
answers such values with SQLSTATE 22003 / 22P05); the gateway refuses them itself, with
its own codes, before anything is sent to the Data API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.gateway_helpers import WAIT, Gateway, User, api, connect, rest_send

TOO_BIG = str(2**63)  # one past bigint
DEEP = "[" * 30_000 + "]" * 30_000


async def assert_nothing_stored(gateway: Gateway, user: User) -> None:
    _, chats = await api(gateway, "GET", "/api/chats", token=user.token)
    assert chats["chats"] == []


@pytest.mark.parametrize(
    "params",
    [{"before_seq": TOO_BIG}, {"after_seq": TOO_BIG}],
)
async def test_history_cursors_past_bigint_are_refused(
    gateway: Gateway, alice: User, bob: User, params: dict[str, str]
) -> None:
    await rest_send(gateway, alice, bob, "x")
    status, answer = await api(
        gateway, "GET", f"/api/chat/{bob.id}/messages", token=alice.token, params=params
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


async def test_a_read_marker_past_bigint_is_refused(
    gateway: Gateway, alice: User, bob: User
) -> None:
    await rest_send(gateway, alice, bob, "x")
    status, answer = await api(
        gateway, "POST", f"/api/chat/{bob.id}/read", token=alice.token, data=f'{{"seq": {TOO_BIG}}}'
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"message_text": "a\\u0000b"}', "invalid_request"),
        ('{"message_text": "hi", "client_msg_id": "c\\u0000"}', "invalid_request"),
        ('{"message_text": "\\ud800"}', "invalid_request"),
        ('{"message_text": ' + DEEP + "}", "invalid_json"),
        (DEEP, "invalid_json"),
    ],
)
async def test_send_bodies_with_nul_lone_surrogates_or_deep_nesting_are_refused(
    gateway: Gateway, alice: User, bob: User, raw: str, code: str
) -> None:
    status, answer = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert (status, answer["error"]["code"]) == (400, code)
    await assert_nothing_stored(gateway, alice)


# A superscript two and an Arabic-Indic one: str.isdigit() says yes, int() says no.
@pytest.mark.parametrize("since_seq", ["\u00b2", "\u0661", TOO_BIG])
async def test_a_since_seq_that_is_not_a_bigint_refuses_the_upgrade(
    gateway: Gateway, alice: User, bob: User, since_seq: str
) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                gateway.ws_url + f"/ws/{bob.id}",
                params={"token": alice.token, "since_seq": since_seq},
            )
        assert refused.value.status == 400


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"type": "read", "seq": ' + TOO_BIG + "}", "invalid_request"),
        ('{"type": "resume", "since_seq": ' + TOO_BIG + "}", "invalid_request"),
        ('{"type": "chat", "message": "a\\u0000b"}', "invalid_request"),
        ('{"type": "chat", "message": "hi", "client_msg_id": "\\u0000"}', "invalid_request"),
        ('{"type": "chat", "message": "\\ud800"}', "invalid_request"),
        ('{"type": "chat", "message": ' + DEEP + "}", "invalid_json"),
        (DEEP, "invalid_json"),
    ],
)
async def test_frames_that_used_to_crash_the_socket_get_an_error_and_it_stays_open(
    gateway: Gateway, alice: User, bob: User, raw: str, code: str
) -> None:
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        await a.send_raw(raw)
        error: dict[str, Any] = await a.next("error")
        assert error["code"] == code
        await a.send({"type": "chat", "message": "still here"})
        assert (await a.next("ack"))["message"]["seq"] == 1
    _, history = await api(gateway, "GET", f"/api/chat/{bob.id}/messages", token=alice.token)
    assert [m["message_text"] for m in history["messages"]] == ["still here"]


async def raw_request(gateway: Gateway, head: bytes) -> bytes:
    """One request written byte for byte (aiohttp's client would not send invalid UTF-8)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    finally:
        writer.close()


@pytest.mark.parametrize("path", [b"/api/chats", b"/ws"])
async def test_a_token_header_that_is_not_utf8_is_an_invalid_token(
    gateway: Gateway, path: bytes
) -> None:
    """aiohttp decodes header bytes with surrogateescape: \\xff becomes a lone surrogate."""
    head = await raw_request(
        gateway,
        b"GET " + path + b" HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ey\xff\xfe.x.y\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    status = head.split(b" ", 2)[1]
    assert status == (b"401" if path == b"/api/chats" else b"101")  # then closed with 4001
