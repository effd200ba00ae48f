"""Tokens whose header cannot be read are refused as malformed, before any key is chosen;
a readable header only picks the key — the signature and claims are still checked."""

from __future__ import annotations

import base64
import time
import uuid

import jwt
import pytest

from gateway.auth.verifier import TokenVerifier
from gateway.errors import ErrorCode, GatewayError

SECRET = "test-secret-with-at-least-thirty-two-characters"


def verifier() -> TokenVerifier:
    return TokenVerifier(
        secret=SECRET, jwks=None, audience="authenticated", algorithms=("HS256", "ES256")
    )


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "!!!.e30.sig",  # not base64url
        b64(b"[1,2]") + ".e30.sig",  # a header that is not an object
        b64(b"\xff\xfe") + ".e30.sig",  # not UTF-8
        b64(b'{"alg":') + ".e30.sig",  # not JSON
    ],
)
async def test_an_unreadable_header_is_a_malformed_token(token: str) -> None:
    with pytest.raises(GatewayError) as caught:
        await verifier().verify(token)
    assert caught.value.error is ErrorCode.TOKEN_INVALID
    assert caught.value.message == "malformed token"


async def test_a_readable_header_does_not_vouch_for_the_rest() -> None:
    user = str(uuid.uuid4())
    claims = {"sub": user, "aud": "authenticated", "exp": int(time.time()) + 60}
    good = jwt.encode(claims, SECRET, algorithm="HS256")
    assert (await verifier().verify(good)).user_id == user
    forged = jwt.encode(claims, "another-secret-of-at-least-thirty-two-chars", algorithm="HS256")
    unsigned = b64(b'{"alg":"none","typ":"JWT"}') + "." + good.split(".")[1] + "."
    for token in (forged, unsigned):
        with pytest.raises(GatewayError) as caught:
            await verifier().verify(token)
        assert caught.value.error is ErrorCode.TOKEN_INVALID
