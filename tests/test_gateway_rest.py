"""The REST API against the real embedded stack: send, history, chats, read, online users,
errors from the catalogue, CORS, and the original app's calls exactly as it documented."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    api,
    sign_up,
    token_for,
    until_ready,
)


async def send(
    gw: Gateway, sender: User, to: User, text: str, cmid: str | None = None
) -> dict[str, Any]:
    body: dict[str, object] = {"message_text": text}
    if cmid is not None:
        body["client_msg_id"] = cmid
    status, answer = await api(
        gw, "POST", f"/api/chat/{to.id}/send", token=sender.token, json_body=body
    )
    assert status in (200, 201), answer
    message: dict[str, Any] = answer["message"]
    return message


# The original app's API, exactly as its README shows it -----------------------------------


async def test_original_api_calls_work_unchanged(gateway: Gateway, alice: User, bob: User) -> None:
    status, sent = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        params={"token": alice.token},
        json_body={"message_text": "Hello, how are you?"},
    )
    assert status == 201
    assert sent["message"]["message_text"] == "Hello, how are you?"
    status, history = await api(
        gateway, "GET", f"/api/chat/{alice.id}/messages", params={"token": bob.token, "limit": "50"}
    )
    assert status == 200
    assert [m["message_text"] for m in history["messages"]] == ["Hello, how are you?"]
    status, chats = await api(gateway, "GET", "/api/chats", params={"token": bob.token})
    assert status == 200 and chats["chats"][0]["peer_id"] == alice.id
    status, online = await api(gateway, "GET", "/api/online-users", params={"token": bob.token})
    assert status == 200 and "online_users" in online


# Send ----------------------------------------------------------------------------------------


async def test_send_returns_the_stored_message(gateway: Gateway, alice: User, bob: User) -> None:
    status, answer = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        json_body={"message_text": "hi", "client_msg_id": "c-1"},
    )
    assert status == 201
    message = answer["message"]
    assert set(message) == {
        "id",
        "chat_id",
        "seq",
        "sender_id",
        "receiver_id",
        "message_text",
        "client_msg_id",
        "created_at",
    }
    assert (message["sender_id"], message["receiver_id"], message["seq"]) == (alice.id, bob.id, 1)
    assert message["client_msg_id"] == "c-1"


async def test_the_same_client_msg_id_again_answers_200_with_the_same_message(
    gateway: Gateway, alice: User, bob: User
) -> None:
    path = f"/api/chat/{bob.id}/send"
    body = {"message_text": "once", "client_msg_id": "dup"}
    first = await api(gateway, "POST", path, token=alice.token, json_body=body)
    again = await api(gateway, "POST", path, token=alice.token, json_body=body)
    assert (first[0], again[0]) == (201, 200)
    assert again[1]["message"] == first[1]["message"]


async def test_a_retry_storm_stores_one_message(gateway: Gateway, alice: User, bob: User) -> None:
    path = f"/api/chat/{bob.id}/send"
    body = {"message_text": "storm", "client_msg_id": "storm-1"}
    results = await asyncio.gather(
        *(api(gateway, "POST", path, token=alice.token, json_body=body) for _ in range(25))
    )
    assert sorted(status for status, _ in results) == [200] * 24 + [201]
    assert len({answer["message"]["id"] for _, answer in results}) == 1
    _, history = await api(gateway, "GET", f"/api/chat/{bob.id}/messages", token=alice.token)
    assert [m["seq"] for m in history["messages"]] == [1]


async def test_the_sender_is_always_the_token_holder(
    gateway: Gateway, alice: User, bob: User
) -> None:
    status, answer = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        json_body={"message_text": "forged?", "sender_id": bob.id},
    )
    assert status == 201 and answer["message"]["sender_id"] == alice.id


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message_text": ""}, "message_empty"),
        ({"message_text": "   "}, "message_empty"),
        ({"message_text": "x" * 4001}, "message_too_long"),
        ({"message_text": 42}, "invalid_request"),
        ({}, "invalid_request"),
        ({"message_text": "ok", "client_msg_id": ""}, "invalid_request"),
        (["message_text"], "invalid_request"),
    ],
)
async def test_bad_send_bodies_are_refused_and_nothing_is_stored(
    gateway: Gateway, alice: User, bob: User, body: object, code: str
) -> None:
    status, answer = await api(
        gateway, "POST", f"/api/chat/{bob.id}/send", token=alice.token, json_body=body
    )
    assert (status, answer["error"]["code"]) == (400, code)
    _, chats = await api(gateway, "GET", "/api/chats", token=alice.token)
    assert chats["chats"] == []


async def test_bad_json_is_refused(gateway: Gateway, alice: User, bob: User) -> None:
    status, answer = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_json")


async def test_peers_must_be_real_other_users(gateway: Gateway, alice: User) -> None:
    body = {"message_text": "hi"}
    cases = {
        "not-a-uuid": (400, "invalid_peer"),
        alice.id: (400, "invalid_peer"),
        str(uuid.uuid4()): (404, "peer_not_found"),
    }
    for peer, expected in cases.items():
        status, answer = await api(
            gateway, "POST", f"/api/chat/{peer}/send", token=alice.token, json_body=body
        )
        assert (status, answer["error"]["code"]) == expected, peer


# History -------------------------------------------------------------------------------------


async def test_history_pages_ascending_with_has_more(
    gateway: Gateway, alice: User, bob: User
) -> None:
    for n in range(1, 8):
        await send(gateway, alice if n % 2 else bob, bob if n % 2 else alice, f"m{n}")
    path = f"/api/chat/{bob.id}/messages"

    async def page(**params: str) -> tuple[list[int], bool]:
        status, answer = await api(gateway, "GET", path, token=alice.token, params=params)
        assert status == 200, answer
        return [m["seq"] for m in answer["messages"]], answer["has_more"]

    assert await page(limit="3") == ([5, 6, 7], True)
    assert await page(limit="3", before_seq="5") == ([2, 3, 4], True)
    assert await page(limit="3", before_seq="2") == ([1], False)
    assert await page(limit="3", after_seq="4") == ([5, 6, 7], False)
    assert await page(limit="2", after_seq="0") == ([1, 2], True)
    assert await page() == ([1, 2, 3, 4, 5, 6, 7], False)
    _, answer = await api(gateway, "GET", path, token=alice.token, params={"limit": "1"})
    newest = answer["messages"][0]
    assert (newest["sender_id"], newest["receiver_id"]) == (alice.id, bob.id)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
        {"before_seq": "2", "after_seq": "1"},
        {"before_seq": "-1"},
    ],
)
async def test_bad_history_queries_are_refused(
    gateway: Gateway, alice: User, bob: User, params: dict[str, str]
) -> None:
    status, answer = await api(
        gateway, "GET", f"/api/chat/{bob.id}/messages", token=alice.token, params=params
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


async def test_nobody_reads_another_pairs_conversation(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    await send(gateway, alice, bob, "between us")
    carol = await sign_up(embedded)
    for peer in (alice, bob):
        status, answer = await api(
            gateway, "GET", f"/api/chat/{peer.id}/messages", token=carol.token
        )
        assert status == 200 and answer["messages"] == []


async def test_concurrent_requests_of_different_users_each_run_as_their_own_user(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    """Every user's requests share one Data API client: each carries only its own token."""
    carol, dave = await sign_up(embedded), await sign_up(embedded)
    await send(gateway, alice, bob, "alice and bob")
    await send(gateway, carol, dave, "carol and dave")
    users = [alice, bob, carol, dave] * 10
    answers = await asyncio.gather(
        *(api(gateway, "GET", "/api/chats", token=user.token) for user in users)
    )
    peer_of = {alice.id: bob.id, bob.id: alice.id, carol.id: dave.id, dave.id: carol.id}
    for user, (status, answer) in zip(users, answers, strict=True):
        assert status == 200
        assert [chat["peer_id"] for chat in answer["chats"]] == [peer_of[user.id]]


# Chats and read markers ---------------------------------------------------------------------


async def test_chats_are_newest_first_with_unread_counts(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    carol = await sign_up(embedded)
    await send(gateway, bob, alice, "b1")
    await send(gateway, bob, alice, "b2")
    await send(gateway, carol, alice, "c1")
    _, answer = await api(gateway, "GET", "/api/chats", token=alice.token)
    chats = answer["chats"]
    assert [c["peer_id"] for c in chats] == [carol.id, bob.id]
    assert [c["unread_count"] for c in chats] == [1, 2]
    assert [c["last_message_text"] for c in chats] == ["c1", "b2"]
    assert set(chats[0]) == {
        "chat_id",
        "peer_id",
        "last_message_at",
        "last_message_text",
        "last_seq",
        "unread_count",
    }


async def test_read_marks_up_to_seq_and_never_moves_back(
    gateway: Gateway, alice: User, bob: User
) -> None:
    for text in ("1", "2", "3"):
        await send(gateway, bob, alice, text)
    path = f"/api/chat/{bob.id}/read"
    status, answer = await api(gateway, "POST", path, token=alice.token, json_body={"seq": 2})
    assert status == 200 and answer["seq"] == 2
    _, answer = await api(gateway, "POST", path, token=alice.token, json_body={"seq": 1})
    assert answer["seq"] == 2
    _, chats = await api(gateway, "GET", "/api/chats", token=alice.token)
    assert chats["chats"][0]["unread_count"] == 1
    status, answer = await api(gateway, "POST", path, token=alice.token, json_body={"seq": "3"})
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


async def test_reading_a_chat_that_does_not_exist_is_404(
    gateway: Gateway, alice: User, bob: User
) -> None:
    status, answer = await api(
        gateway, "POST", f"/api/chat/{bob.id}/read", token=alice.token, json_body={"seq": 1}
    )
    assert (status, answer["error"]["code"]) == (404, "chat_not_found")


# Authentication ------------------------------------------------------------------------------


async def test_requests_without_a_valid_token_are_refused(
    gateway: Gateway, embedded: EmbeddedStack, alice: User
) -> None:
    expired = token_for(embedded, alice, expires_in=-10)
    wrong_aud = embedded.keys.sign(
        {"sub": alice.id, "role": "authenticated", "aud": "other", "exp": 2_000_000_000}
    )
    cases = [
        (None, 401, "auth_required"),
        ("garbage", 401, "token_invalid"),
        (expired, 401, "token_expired"),
        (wrong_aud, 401, "token_invalid"),
        (embedded.anon_key, 401, "token_invalid"),  # not a user token
    ]
    for token, status, code in cases:
        got = await api(gateway, "GET", "/api/chats", token=token)
        assert (got[0], got[1]["error"]["code"]) == (status, code), token


async def test_unsigned_tokens_are_refused(gateway: Gateway, alice: User) -> None:
    import jwt

    forged = jwt.encode(
        {"sub": alice.id, "aud": "authenticated", "exp": 2_000_000_000},
        key=None,  # type: ignore[arg-type]  # an unsigned token, forged on purpose
        algorithm="none",
    )
    status, answer = await api(gateway, "GET", "/api/chats", token=forged)
    assert (status, answer["error"]["code"]) == (401, "token_invalid")


# Service endpoints -------------------------------------------------------------------------


async def test_openapi_is_generated_from_the_models(gateway: Gateway) -> None:
    status, doc = await api(gateway, "GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/chat/{receiver_id}/messages",
        "/api/chat/{receiver_id}/send",
        "/api/chats",
        "/api/online-users",
        "/api/chat/{receiver_id}/read",
        "/api/blocks",
        "/api/blocks/{user_id}",
    }
    send_op = doc["paths"]["/api/chat/{receiver_id}/send"]["post"]
    body_ref = send_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.endswith("/SendBody")
    assert "message_text" in doc["components"]["schemas"]["SendBody"]["properties"]
    for page in ("/docs", "/redoc"):
        status, html = await api(gateway, "GET", page)
        assert status == 200 and "/openapi.json" in html


async def test_health_readiness_and_metrics(gateway: Gateway, alice: User, bob: User) -> None:
    assert (await api(gateway, "GET", "/healthz"))[0] == 200
    ready = await until_ready(gateway)
    assert ready["checks"] == {
        "database": True,
        "realtime": True,
        "change_feed": True,
    }
    await send(gateway, alice, bob, "counted")
    await api(gateway, "GET", "/api/chats")  # an auth_required error
    status, text = await api(gateway, "GET", "/metrics", token=gateway.config.server.metrics_token)
    assert status == 200
    assert "gateway_messages_in_total 1.0" in text
    assert 'gateway_errors_total{code="auth_required"} 1.0' in text
    assert "gateway_sockets 0.0" in text
    assert "gateway_delivery_latency_seconds_bucket" in text


async def test_unknown_paths_answer_in_the_error_format(gateway: Gateway) -> None:
    status, answer = await api(gateway, "GET", "/nope")
    assert (status, answer["error"]["code"]) == (404, "not_found")


async def test_cors_allows_only_configured_origins(gateway: Gateway, alice: User) -> None:
    preflight = {"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"}
    status, _ = await api(gateway, "OPTIONS", "/api/chats", headers=preflight)
    assert status == 204
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert (await api(gateway, "OPTIONS", "/api/chats", headers=evil))[0] == 403
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(
            gateway.url + "/api/chats",
            headers={"Origin": "https://chat.example", "Authorization": f"Bearer {alice.token}"},
        ) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://chat.example"
        async with http.get(
            gateway.url + "/api/chats",
            headers={"Origin": "https://evil.example", "Authorization": f"Bearer {alice.token}"},
        ) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
