"""Access tokens signed with the project's asymmetric keys (ES256, RS256) are verified
through its JWKS; algorithm confusion and foreign keys are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.config import EmbeddedConfig
from tests.conftest import EmbeddedStack
from tests.gateway_helpers import (
    Gateway,
    User,
    api,
    connect,
    gateway_config,
    running_gateway,
    sign_up,
)


@pytest.fixture(params=["ES256", "RS256"])
def embedded_config(request: pytest.FixtureRequest) -> EmbeddedConfig:
    return EmbeddedConfig(signing=request.param)


@pytest.fixture
async def gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_config(embedded), embedded) as gw:
        yield gw


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256_by_hand(payload: dict[str, object], secret: bytes) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = b64(hmac.new(secret, header + b"." + body, hashlib.sha256).digest())
    return (header + b"." + body + b"." + signature).decode()


def claims(user: User) -> dict[str, object]:
    return {
        "sub": user.id,
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
    }


async def test_asymmetric_user_tokens_work_over_rest_and_websocket(
    gateway: Gateway, embedded: EmbeddedStack
) -> None:
    alice, bob = await sign_up(embedded), await sign_up(embedded)
    header = jwt.get_unverified_header(alice.token)
    assert (header["alg"], header["kid"]) == (embedded.config.signing, embedded.keys.kid)
    status, _ = await api(
        gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,
        json_body={"message_text": "signed asymmetrically"},
    )
    assert status == 201
    async with connect(gateway, f"/ws/{alice.id}", token=bob.token) as b:
        await b.send({"type": "resume", "peer_id": alice.id, "since_seq": 0})
        assert (await b.next("message"))["message"]["message_text"] == "signed asymmetrically"


async def test_a_token_signed_by_a_foreign_key_is_refused(
    gateway: Gateway, embedded: EmbeddedStack
) -> None:
    alice = await sign_up(embedded)
    foreign = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        claims(alice), foreign, algorithm="ES256", headers={"kid": embedded.keys.kid}
    )
    status, answer = await api(gateway, "GET", "/api/chats", token=token)
    assert (status, answer["error"]["code"]) == (401, "token_invalid")


async def test_the_public_key_is_never_accepted_as_an_hmac_secret(
    gateway: Gateway, embedded: EmbeddedStack
) -> None:
    """Algorithm confusion: HS256 signed with the published public key must fail."""
    alice = await sign_up(embedded)
    pem = embedded.keys.signing_key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = hs256_by_hand(claims(alice), secret=pem)  # PyJWT itself refuses PEM secrets
    status, answer = await api(gateway, "GET", "/api/chats", token=forged)
    assert (status, answer["error"]["code"]) == (401, "token_invalid")


async def test_an_unknown_kid_is_refused(gateway: Gateway, embedded: EmbeddedStack) -> None:
    alice = await sign_up(embedded)
    key = embedded.keys.signing_key
    token = jwt.encode(
        claims(alice), key.private, algorithm=key.alg, headers={"kid": "rotated-away"}
    )
    status, answer = await api(gateway, "GET", "/api/chats", token=token)
    assert (status, answer["error"]["code"]) == (401, "token_invalid")
