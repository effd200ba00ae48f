"""Forged, stale and misused access tokens, over every way a token reaches the gateway:
REST (`Authorization`), the WebSocket's `?token=` and its first `auth` frame. Each is
refused — 401 on REST, close 4001 (4002 when expired) on the WebSocket — and nothing is
written. A still-valid token of a deleted user writes nothing and says why.

Runs on an ES256 project so algorithm confusion (HS256 signed with the published public
key) is a real attack; the project's legacy HS256 secret is configured too, as on a
project that moved to asymmetric keys. Followed: GoTrue's token checks (`exp`, `nbf`,
`aud`; refresh tokens are opaque strings, never JWTs) and its answer to a token whose
user is gone, 403 `user_not_found` "User from sub claim in JWT does not exist"
(supabase/auth `internal/api/auth.go`, `maybeLoadUserOrSession`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.config import EmbeddedConfig
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    PASSWORD,
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
from tests.test_gateway_auth import hs256_by_hand


@pytest.fixture
def embedded_config() -> EmbeddedConfig:
    return EmbeddedConfig(signing="ES256")


@pytest.fixture
async def gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_config(embedded), embedded) as gw:
        yield gw


def claims(user: User, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": user.id, "role": "authenticated", "aud": "authenticated", "iat": now}
    return base | {"exp": now + 600} | changes


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64(json.dumps(body | changes).encode()), signature])


async def refresh_token(embedded: EmbeddedStack, user: User) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{embedded.url}/auth/v1/token?grant_type=password",
            json={"email": user.email, "password": PASSWORD},
            headers={"apikey": embedded.anon_key},
        ) as resp,
    ):
        assert resp.status == 200
        token: str = (await resp.json())["refresh_token"]
    return token


def _public_pem(embedded: EmbeddedStack) -> bytes:
    pem: bytes = embedded.keys.signing_key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


Forge = Callable[[EmbeddedStack, User, User], str]
FORGERIES: dict[str, tuple[Forge, str]] = {
    "alg none": (
        lambda e, a, b: jwt.encode(claims(a), key=None, algorithm="none"),  # type: ignore[arg-type]
        "token_invalid",
    ),
    "HS256 signed with the public key": (
        lambda e, a, b: hs256_by_hand(claims(a), secret=_public_pem(e)),
        "token_invalid",
    ),
    "HS256 signed with a wrong secret": (
        lambda e, a, b: hs256_by_hand(claims(a), secret=b"not-the-project-secret-" * 2),
        "token_invalid",
    ),
    "expired": (lambda e, a, b: e.keys.sign(claims(a, exp=int(time.time()) - 5)), "token_expired"),
    "not yet valid": (
        lambda e, a, b: e.keys.sign(claims(a, nbf=int(time.time()) + 600)),
        "token_invalid",
    ),
    "wrong audience": (lambda e, a, b: e.keys.sign(claims(a, aud="other")), "token_invalid"),
    "tampered payload": (lambda e, a, b: tampered(a.token, sub=b.id), "token_invalid"),
    "no sub": (lambda e, a, b: e.keys.sign(claims(a, sub=None)), "token_invalid"),
}


@pytest.mark.parametrize("kind", [*FORGERIES, "refresh token"])
async def test_a_bad_token_is_refused_everywhere_and_writes_nothing(
    gateway: Gateway, embedded: EmbeddedStack, kind: str
) -> None:
    alice, bob = await sign_up(embedded), await sign_up(embedded)
    if kind == "refresh token":
        token, code = await refresh_token(embedded, alice), "token_invalid"
    else:
        forge, code = FORGERIES[kind]
        token = forge(embedded, alice, bob)
    close = 4002 if code == "token_expired" else 4001
    status, answer = await api(
        gateway, "POST", f"/api/chat/{bob.id}/send", token=token, json_body={"message_text": "x"}
    )
    assert (status, answer["error"]["code"]) == (401, code)
    async with connect(gateway, f"/ws/{bob.id}", token=token) as by_query:
        assert await by_query.wait_closed() == close
        assert (await by_query.next("error"))["code"] == code
    async with connect(gateway, "/ws") as by_frame:
        await by_frame.send({"type": "auth", "token": token})
        assert await by_frame.wait_closed() == close
        assert (await by_frame.next("error"))["code"] == code
    assert await run_sql(embedded, "select id from public.chats where $1", True) == []


@pytest.mark.parametrize("soft", [False, True], ids=["deleted", "soft-deleted"])
async def test_a_deleted_users_valid_token_writes_nothing_and_says_why(
    gateway: Gateway, embedded: EmbeddedStack, soft: bool
) -> None:
    alice, bob, carol = await sign_up(embedded), await sign_up(embedded), await sign_up(embedded)
    await rest_send(gateway, alice, bob, "hi")
    async with connect(gateway, f"/ws/{bob.id}", token=alice.token) as a:
        headers = {
            "apikey": embedded.service_key,
            "Authorization": f"Bearer {embedded.service_key}",
        }
        async with (
            aiohttp.ClientSession() as http,
            http.delete(
                f"{embedded.url}/auth/v1/admin/users/{alice.id}",
                json={"should_soft_delete": soft},
                headers=headers,
            ) as resp,
        ):
            assert resp.status == 200
        for peer in (bob, carol):  # an existing chat, and one that would be new
            status, answer = await api(
                gateway,
                "POST",
                f"/api/chat/{peer.id}/send",
                token=alice.token,
                json_body={"message_text": "after"},
            )
            assert (status, answer["error"]["code"]) == (403, "user_not_found")
        await a.send({"type": "chat", "message": "after"})
        assert (await a.next("error"))["code"] == "user_not_found"
        assert await a.wait_closed() == 4003
    after = await run_sql(embedded, "select id from public.messages where body = $1", "after")
    assert after == []
    assert len(await run_sql(embedded, "select id from public.chats where $1", True)) == 1
