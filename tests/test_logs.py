"""Structured logs of a real session: JSON lines (or key=value) carrying connection ids,
user ids and the catalogue's error codes, and never a token or a message body.

The session is the gateway in front of the embedded stack, both in this process, so the
captured log is everything either of them wrote: WebSocket sign-in with `?token=`, a
chat message, a refused frame, a REST call with a forged token, the goodbye.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest

from gateway.config import LogConfig
from gateway.logs import configure, redact
from tests.gateway_helpers import Gateway, User, api, connect


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Every record of the process at DEBUG, through the configured formatter."""
    fmt = request.param if hasattr(request, "param") else "json"
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure(LogConfig(format=fmt, level="DEBUG"), stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


async def a_session(gateway: Gateway, alice: User, bob: User) -> str:
    """A session with a message, a refused frame and a refused REST call; its body."""
    body = f"a private note {secrets.token_hex(8)}"
    async with (
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        await a.send({"type": "chat", "message": body, "client_msg_id": "c1"})
        assert (await b.next("message"))["message"]["message_text"] == body
        await a.send({"type": "no-such-frame"})
        assert (await a.next("error"))["code"] == "unknown_type"
    forged = alice.token[:-4] + "AAAA"
    status, _ = await api(gateway, "GET", "/api/chats", token=forged)
    assert status == 401
    return body


async def test_json_logs_carry_ids_and_codes_and_no_token_or_body(
    gateway: Gateway, alice: User, bob: User, captured: io.StringIO
) -> None:
    body = await a_session(gateway, alice, bob)
    text = captured.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    assert records, "nothing was logged"
    for secret in (alice.token, bob.token, alice.token[:-4] + "AAAA", body):
        assert secret not in text
    refused = [r for r in records if r["msg"].startswith("frame refused")]
    assert refused and refused[0]["user"] == alice.id and refused[0]["code"] == "unknown_type"
    assert refused[0]["conn"]
    opened = {r["user"] for r in records if r["msg"].startswith("socket opened")}
    assert opened == {alice.id, bob.id}
    assert any(r.get("code") == "token_invalid" for r in records)


@pytest.mark.parametrize("captured", ["text"], indirect=True)
async def test_text_logs_are_key_value_lines(
    gateway: Gateway, alice: User, bob: User, captured: io.StringIO
) -> None:
    body = await a_session(gateway, alice, bob)
    text = captured.getvalue()
    assert alice.token not in text and body not in text
    line = next(x for x in text.splitlines() if "frame refused" in x)
    assert line.split(" ", 1)[0].startswith("ts=")
    assert " level=INFO logger=gateway.api.ws " in line
    assert f"user={alice.id} code=unknown_type" in line


def test_token_shaped_strings_are_masked_on_the_way_out() -> None:
    """The last guard: a line that would carry a JWT or a secret key has it masked."""
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    assert redact(f"token={jwt_like} key=sb_secret_abc123") == "token=[redacted] key=[redacted]"
