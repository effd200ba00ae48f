"""Consent through the gateway (issue 13): presence only between people who share a chat
by default, and blocking, on the real stack (gateway, embedded Supabase, real sockets).

What a block does and tells (README "Blocking"), followed from what Signal and WhatsApp
show a blocked sender — nothing that says "blocked": the blocked sender's messages and new
chats are refused as for a user who does not exist (404 `peer_not_found`); the blocker is
told to unblock first (403 `forbidden`); presence, typing and read receipts stop both ways.
Direct Supabase users are covered in tests/js/presence_consent.test.mjs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
from tests.rest_helpers import run_sql


async def online_seen_by(gw: Gateway, user: User) -> set[str]:
    status, answer = await api(gw, "GET", "/api/online-users", token=user.token)
    assert status == 200, answer
    return set(answer["online_users"])


async def set_block(gw: Gateway, blocker: User, blocked: User, on: bool) -> None:
    method = "PUT" if on else "DELETE"
    status, answer = await api(gw, method, f"/api/blocks/{blocked.id}", token=blocker.token)
    assert (status, answer) == (200, {"user_id": blocked.id, "blocked": on})


@pytest.fixture
async def everyone_gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    config = gateway_config(embedded, delivery={"presence_visibility": "everyone"})
    async with running_gateway(config, embedded) as gw:
        yield gw


async def test_online_users_are_only_people_who_share_a_chat_by_default(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    carol = await sign_up(embedded)
    await rest_send(gateway, alice, bob, "hi")
    async with (
        connect(gateway, "/ws", token=alice.token),
        connect(gateway, "/ws", token=bob.token),
        connect(gateway, "/ws", token=carol.token),
    ):
        assert await online_seen_by(gateway, alice) == {alice.id, bob.id}
        assert await online_seen_by(gateway, carol) == {carol.id}
    # The gateway wrote its setting for direct subscribers: online-users is closed to them.
    rows = await run_sql(
        embedded, "select visibility from chat_private.presence_settings where $1", True
    )
    assert [r["visibility"] for r in rows] == ["chats"]


async def test_everyone_may_see_everyone_when_configured_but_never_across_a_block(
    everyone_gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    gw, carol = everyone_gateway, await sign_up(embedded)
    async with (
        connect(gw, "/ws", token=alice.token),
        connect(gw, "/ws", token=bob.token),
        connect(gw, "/ws", token=carol.token),
    ):
        rows = await run_sql(
            embedded, "select visibility from chat_private.presence_settings where $1", True
        )
        assert [r["visibility"] for r in rows] == ["everyone"]
        assert await online_seen_by(gw, carol) == {alice.id, bob.id, carol.id}
        await set_block(gw, alice, carol, True)
        assert await online_seen_by(gw, carol) == {bob.id, carol.id}
        assert await online_seen_by(gw, alice) == {alice.id, bob.id}


async def test_a_block_stops_messages_typing_read_receipts_and_presence_both_ways(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    first = await rest_send(gateway, bob, alice, "before")
    async with (
        connect(gateway, f"/ws/{bob.id}", token=alice.token) as a,
        connect(gateway, f"/ws/{alice.id}", token=bob.token) as b,
    ):
        assert await a.next("presence") == {"type": "presence", "user_id": bob.id, "online": True}
        assert await b.next("presence") == {"type": "presence", "user_id": alice.id, "online": True}

        await set_block(gateway, alice, bob, True)
        # Each sees the other go offline: presence stops both ways.
        assert await a.next("presence") == {"type": "presence", "user_id": bob.id, "online": False}
        assert await b.next("presence") == {
            "type": "presence",
            "user_id": alice.id,
            "online": False,
        }
        assert await online_seen_by(gateway, alice) == {alice.id}
        assert await online_seen_by(gateway, bob) == {bob.id}

        # The blocked sender is answered as for a user who does not exist.
        await b.send({"type": "chat", "message": "let me in", "client_msg_id": "b-1"})
        assert (await b.next("error"))["code"] == "peer_not_found"
        status, answer = await api(
            gateway,
            "POST",
            f"/api/chat/{alice.id}/send",
            token=bob.token,
            json_body={"message_text": "let me in"},
        )
        assert (status, answer["error"]["code"]) == (404, "peer_not_found")
        # The blocker is told that sending needs an unblock.
        status, answer = await api(
            gateway,
            "POST",
            f"/api/chat/{bob.id}/send",
            token=alice.token,
            json_body={"message_text": "hi"},
        )
        assert (status, answer["error"]["code"]) == (403, "forbidden")

        # Typing and read receipts from bob do not reach alice.
        await b.send({"type": "typing"})
        await b.send({"type": "read", "seq": first["seq"]})
        await a.nothing("typing")
        await a.nothing("read")
        await a.nothing("message")
        stored = await run_sql(
            embedded, "select body from public.messages where $1 order by seq", True
        )
        assert [r["body"] for r in stored] == ["before"]

        status, listed = await api(gateway, "GET", "/api/blocks", token=alice.token)
        assert (status, listed) == (200, {"blocked_users": [bob.id]})
        status, listed = await api(gateway, "GET", "/api/blocks", token=bob.token)
        assert (status, listed) == (200, {"blocked_users": []})

        # Lifted: presence comes back and messages flow again.
        await set_block(gateway, alice, bob, False)
        assert await a.next("presence") == {"type": "presence", "user_id": bob.id, "online": True}
        await b.send({"type": "chat", "message": "friends again"})
        assert (await a.next("message"))["message"]["message_text"] == "friends again"
        await b.send({"type": "typing"})
        assert (await a.next("typing"))["user_id"] == bob.id


async def test_no_chat_opens_with_someone_who_blocked_you(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    await set_block(gateway, alice, bob, True)  # they never talked
    async with connect(gateway, f"/ws/{alice.id}", token=bob.token) as b:
        await b.send({"type": "chat", "message": "hello?"})
        assert (await b.next("error"))["code"] == "peer_not_found"
    assert await run_sql(embedded, "select id from public.chats where $1", True) == []
    # Unknown users get the very same answer.
    status, answer = await api(
        gateway,
        "POST",
        "/api/chat/00000000-0000-4000-8000-000000000000/send",
        token=bob.token,
        json_body={"message_text": "hello?"},
    )
    assert (status, answer["error"]["code"]) == (404, "peer_not_found")


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("not-a-uuid", 400, "invalid_peer"),
        ("self", 400, "invalid_peer"),
        ("00000000-0000-4000-8000-000000000000", 404, "peer_not_found"),
    ],
)
async def test_a_bad_block_gets_a_catalogued_error(
    gateway: Gateway, alice: User, target: str, status: int, code: str
) -> None:
    target = alice.id if target == "self" else target
    answer_status, answer = await api(gateway, "PUT", f"/api/blocks/{target}", token=alice.token)
    assert (answer_status, answer["error"]["code"]) == (status, code)


async def test_blocks_need_a_token(gateway: Gateway, bob: User) -> None:
    for method in ("GET", "PUT", "DELETE"):
        path = "/api/blocks" if method == "GET" else f"/api/blocks/{bob.id}"
        status, answer = await api(gateway, method, path)
        assert (status, answer["error"]["code"]) == (401, "auth_required")
