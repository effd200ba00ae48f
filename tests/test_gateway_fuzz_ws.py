"""Property: whatever a client sends on a WebSocket — any frame type with wrong, huge,
negative, nested, control-character or surrogate-laden fields, malformed or deeply nested
JSON, binary frames — it gets only catalogued errors (never `internal`) and the socket
keeps working; only a bad token in an `auth` frame ends it, with its documented close
code. A text frame that is not UTF-8 ends the socket with 1007, as RFC 6455 §8.1 requires.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.fuzz_strategies import (
    CATALOGUE,
    FUZZ,
    deep,
    dump,
    ids,
    json_values,
    malformed,
    numbers,
    texts,
)
from tests.gateway_helpers import Gateway, User

TYPES = ["chat", "ping", "typing", "read", "auth", "resume"]
SOCKET_ENDING = {4001, 4002, 4003}  # auth frames: token_invalid/_expired/_subject_mismatch


def is_ping(frame: str | bytes) -> bool:
    """A frame the gateway answers with a pong of its own."""
    try:
        value = json.loads(frame) if isinstance(frame, str) else None
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and value.get("type") == "ping"


class Socket:
    """A blocking client on /ws that reconnects when an auth frame ended it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = self._open()

    def _open(self) -> ClientConnection:
        ws = ws_connect(self.url, max_size=None, open_timeout=10)
        while json.loads(ws.recv(timeout=10))["type"] != "ready":
            pass
        return ws

    def exchange(self, frame: str | bytes) -> tuple[list[dict[str, Any]], int | None]:
        """Send `frame`, then a ping; the frames before the pong, or the close code."""
        seen: list[dict[str, Any]] = []
        pongs = 2 if is_ping(frame) else 1
        try:
            self.ws.send(frame)
            self.ws.send('{"type":"ping"}')
            while pongs:
                reply = json.loads(self.ws.recv(timeout=10))
                if reply["type"] == "pong":
                    pongs -= 1
                else:
                    seen.append(reply)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            self.ws = self._open()
            return seen, code
        return seen, None

    def close(self) -> None:
        self.ws.close()


def frames(peer: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        "message": texts | json_values,
        "client_msg_id": texts | json_values,
        "to": ids(peer),
        "seq": numbers | json_values,
        "since_seq": numbers | json_values,
        "peer_id": ids(peer),
        "chat_id": ids(peer),
        "token": texts | json_values,
    }
    return st.builds(
        lambda kind, rest: {"type": kind, **rest},
        st.sampled_from(TYPES) | json_values,
        st.fixed_dictionaries({}, optional=fields),
    )


def inputs(peer: str) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        st.builds(dump, frames(peer), st.booleans()),
        st.builds(dump, json_values, st.booleans()),
        malformed,
        deep(20_000),
        st.binary(max_size=100),
    )


def fuzz_socket(url: str, peer: str) -> None:
    socket = Socket(url)

    @FUZZ
    @given(inputs(peer))
    def property_(frame: str | bytes) -> None:
        seen, closed = socket.exchange(frame)
        codes = [f["code"] for f in seen if f["type"] == "error"]
        assert set(codes) <= CATALOGUE, (frame, seen)
        if closed is not None:
            assert closed in SOCKET_ENDING, (frame, closed)
            assert isinstance(frame, str) and json.loads(frame)["type"] == "auth"

    try:
        property_()
        seen, closed = socket.exchange(json.dumps({"type": "chat", "message": "ok", "to": peer}))
        assert closed is None and [f["type"] for f in seen] == ["ack"], seen
    finally:
        socket.close()


async def test_any_frame_gets_a_catalogued_answer_and_the_socket_keeps_working(
    unlimited_gateway: Gateway, alice: User, bob: User
) -> None:
    url = f"{unlimited_gateway.ws_url}/ws?token={alice.token}"
    await asyncio.to_thread(fuzz_socket, url, bob.id)


def send_invalid_utf8(url: str) -> int | None:
    with ws_connect(url, open_timeout=10) as ws:
        ws.send(b'{"type":"ping","x":"\xff\xfe"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        return closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(
    unlimited_gateway: Gateway, alice: User
) -> None:
    assert (
        await asyncio.to_thread(
            send_invalid_utf8, f"{unlimited_gateway.ws_url}/ws?token={alice.token}"
        )
        == 1007
    )
