"""Wire details of the embedded Auth API that clients rely on: error shapes and headers,
which credentials each route reads, and the informational endpoints."""

from __future__ import annotations

import time

import pytest
from supabase_auth.errors import AuthApiError

from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import (
    API_VERSION,
    PASSWORD,
    auth_request,
    new_email,
    sign_up,
    supabase_client,
)


async def test_errors_follow_the_2024_format_when_the_client_asks_for_it(
    embedded: EmbeddedStack,
) -> None:
    status, headers, body = await auth_request(
        embedded,
        "POST",
        "/token?grant_type=password",
        headers={"apikey": embedded.anon_key, **API_VERSION},
        body={"email": new_email(), "password": PASSWORD},
    )
    assert status == 400
    assert body == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert headers["x-sb-error-code"] == "invalid_credentials"


async def test_errors_keep_the_legacy_format_for_older_clients(embedded: EmbeddedStack) -> None:
    status, headers, body = await auth_request(
        embedded,
        "POST",
        "/signup",
        headers={"apikey": embedded.anon_key},
        body={"email": new_email(), "password": "123"},
    )
    assert status == 422
    assert body == {
        "code": 422,
        "error_code": "weak_password",
        "msg": "Password should be at least 6 characters.",
        "weak_password": {"reasons": ["length"]},
    }
    assert "X-Supabase-Api-Version" not in headers


async def test_signup_and_token_ignore_a_stale_authorization_header(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    stale = {"apikey": embedded.anon_key, "Authorization": "Bearer not.a.jwt", **API_VERSION}
    signup_status, _, _ = await auth_request(
        embedded,
        "POST",
        "/signup",
        headers=stale,
        body={
            "email": email,
            "password": PASSWORD,
            "gotrue_meta_security": {},
            "code_challenge": "x" * 43,
            "code_challenge_method": "s256",
        },
    )
    token_status, _, body = await auth_request(
        embedded,
        "POST",
        "/token?grant_type=password",
        headers=stale,
        body={"email": email, "password": PASSWORD, "data": {}},
    )
    assert (signup_status, token_status) == (200, 200)
    assert body["user"]["email"] == email


# The API gateway lets only project keys through (tests/test_embedded_api_keys.py), so a
# GoTrue answer is about the bearer the gateway passes on: the user's token or the key's JWT.
@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"apikey": "ANON", "Authorization": "Bearer garbage"}, 403, "bad_jwt"),
        ({"apikey": "ANON"}, 403, "bad_jwt"),  # a valid key, but no user in it
        ({"apikey": "PUBLISHABLE"}, 403, "bad_jwt"),  # the anon JWT stands in for it
        ({"apikey": "ANON", "Authorization": "Bearer sb_publishable_x"}, 403, "bad_jwt"),
    ],
)
async def test_user_endpoint_explains_missing_or_bad_credentials(
    embedded: EmbeddedStack, headers: dict[str, str], status: int, code: str
) -> None:
    keys = {"ANON": embedded.anon_key, "PUBLISHABLE": embedded.config.publishable_key}
    sent = {k: keys.get(v, v) for k, v in headers.items()}
    got_status, got_headers, body = await auth_request(
        embedded, "GET", "/user", headers={**sent, **API_VERSION}
    )
    assert (got_status, body["code"]) == (status, code)
    assert got_headers["x-sb-error-code"] == code


async def test_an_expired_access_token_is_refused(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
    claims = dict(embedded.keys.verify(session.access_token).raw)
    claims["exp"] = int(time.time()) - 10
    expired = embedded.keys.sign(claims)
    status, _, body = await auth_request(
        embedded,
        "GET",
        "/user",
        headers={"apikey": embedded.anon_key, "Authorization": f"Bearer {expired}", **API_VERSION},
    )
    assert (status, body["code"]) == (403, "bad_jwt")
    assert "expired" in body["message"]


async def test_unknown_grant_types_and_malformed_refresh_tokens_are_bad_requests(
    embedded: EmbeddedStack,
) -> None:
    headers = {"apikey": embedded.anon_key, **API_VERSION}
    grant_status, _, grant = await auth_request(
        embedded, "POST", "/token?grant_type=magic", headers=headers, body={}
    )
    refresh_status, _, refresh = await auth_request(
        embedded,
        "POST",
        "/token?grant_type=refresh_token",
        headers=headers,
        body={"refresh_token": "short"},
    )
    unknown_status, _, unknown = await auth_request(
        embedded,
        "POST",
        "/token?grant_type=refresh_token",
        headers=headers,
        body={"refresh_token": "abcdefghijkl"},
    )
    assert (grant_status, grant["code"], grant["message"]) == (
        400,
        "invalid_credentials",
        "unsupported_grant_type",
    )
    assert (refresh_status, refresh["code"]) == (400, "validation_failed")
    assert (unknown_status, unknown["code"]) == (400, "refresh_token_not_found")


async def test_a_body_that_is_not_json_is_bad_json(embedded: EmbeddedStack) -> None:
    status, _, body = await auth_request(
        embedded,
        "POST",
        "/signup",
        headers={"apikey": embedded.anon_key, **API_VERSION},
        body=["not", "an", "object"],
    )
    assert (status, body["code"]) == (400, "bad_json")


async def test_logout_refuses_an_unknown_scope(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
        with pytest.raises(AuthApiError) as caught:
            await client.auth.admin.sign_out(session.access_token, "everything")  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.status) == ("validation_failed", 400)


async def test_jwks_health_and_settings_answer_like_gotrue(embedded: EmbeddedStack) -> None:
    jwks_status, jwks_headers, jwks = await auth_request(embedded, "GET", "/.well-known/jwks.json")
    key = {"apikey": embedded.anon_key}  # JWKS is open; the rest sits behind the key check
    health_status, _, health = await auth_request(embedded, "GET", "/health", headers=key)
    settings_status, _, settings = await auth_request(embedded, "GET", "/settings", headers=key)
    assert jwks_status == 200 and jwks_headers["Cache-Control"] == "public, max-age=600"
    assert [key["kid"] for key in jwks["keys"]] == [embedded.keys.kid]
    assert all("d" not in key and key["kty"] == "EC" for key in jwks["keys"])
    assert (health_status, health["name"]) == (200, "GoTrue")
    assert settings_status == 200
    assert settings["external"]["email"] is True and settings["external"]["github"] is False
    assert settings["mailer_autoconfirm"] is True and settings["disable_signup"] is False
