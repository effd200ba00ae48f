"""The Auth API's per-address request limits, as GoTrue applies them (supabase/auth
`internal/api/apilimiter/apilimiter.go`, `api.go`, `token.go`, `middleware.go`): sign-ups
and user updates share the OTP rate, every /token grant shares the token-refresh rate, each a
token bucket with a burst of 30 per client address; over it, 429 `over_request_rate_limit`
"Request rate limit reached". Defaults from the Supabase CLI's config.toml template
(`[auth.rate_limit] sign_in_sign_ups = 30`, `token_refresh = 150`, per 5 minutes).
Acceptance tests use a burst of 3 so they stay fast; the bucket's arithmetic is checked
with a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from supabase_auth.errors import AuthApiError

from gateway.config import EmbeddedConfig
from gateway.embedded.auth.ratelimit import AuthRateLimits, KeyedBucket
from tests.embedded_auth_helpers import (
    API_VERSION,
    PASSWORD,
    auth_request,
    new_email,
    sign_up,
    supabase_client,
)
from tests.realtime_helpers import RealtimeStack, realtime_stack

BURST = 3
# One new request per 5 minutes after the burst: nothing refills while a test runs.
SMALL = AuthRateLimits(sign_in_sign_ups=1, token_refresh=1, burst=BURST)
OVER_LIMIT = {"code": "over_request_rate_limit", "message": "Request rate limit reached"}


@pytest.fixture
async def limited(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    async with realtime_stack(database_url, tmp_path, auth_limits=SMALL) as stack:
        yield stack


def headers(stack: RealtimeStack) -> dict[str, str]:
    return {"apikey": stack.anon_key, **API_VERSION}


async def signup(stack: RealtimeStack, email: str) -> tuple[int, object]:
    body = {"email": email, "password": PASSWORD}
    status, _, payload = await auth_request(
        stack, "POST", "/signup", headers=headers(stack), body=body
    )
    return status, payload


async def password_grant(stack: RealtimeStack, email: str, password: str) -> int:
    body = {"email": email, "password": password}
    status, _, _ = await auth_request(
        stack, "POST", "/token?grant_type=password", headers=headers(stack), body=body
    )
    return status


async def test_a_burst_of_sign_ups_is_cut_off_and_the_extra_users_are_not_created(
    limited: RealtimeStack,
) -> None:
    emails = [new_email() for _ in range(BURST + 2)]
    answers = await asyncio.gather(*(signup(limited, email) for email in emails))
    assert sorted(status for status, _ in answers) == [200] * BURST + [429] * 2
    assert [body for status, body in answers if status == 429] == [OVER_LIMIT] * 2
    refused = {email for email, (status, _) in zip(emails, answers, strict=True) if status == 429}
    async with supabase_client(limited, limited.service_key) as admin:
        users = await admin.auth.admin.list_users()
    assert not refused & {user.email for user in users}


async def test_older_clients_get_the_legacy_error_shape(limited: RealtimeStack) -> None:
    for _ in range(BURST):
        await signup(limited, new_email())
    status, _, body = await auth_request(
        limited,
        "POST",
        "/signup",
        headers={"apikey": limited.anon_key},
        body={"email": new_email(), "password": PASSWORD},
    )
    assert (status, body) == (
        429,
        {"code": 429, "error_code": "over_request_rate_limit", "msg": "Request rate limit reached"},
    )


async def test_password_guessing_is_cut_off_even_for_the_right_password(
    limited: RealtimeStack,
) -> None:
    async with supabase_client(limited) as client:
        email = (await sign_up(client)).user.email
        assert email is not None
        wrong = [await password_grant(limited, email, "wrong-password") for _ in range(BURST)]
        assert wrong == [400] * BURST
        with pytest.raises(AuthApiError) as refused:
            await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert (refused.value.status, refused.value.code) == (429, "over_request_rate_limit")


async def test_refreshes_share_the_token_limit_with_sign_ins(limited: RealtimeStack) -> None:
    async with supabase_client(limited) as client:
        session = await sign_up(client)
        assert session.user.email is not None
        for _ in range(BURST):
            assert await password_grant(limited, session.user.email, PASSWORD) == 200
        with pytest.raises(AuthApiError) as refused:
            await client.auth.refresh_session(session.refresh_token)
    assert (refused.value.status, refused.value.code) == (429, "over_request_rate_limit")


async def test_profile_updates_are_limited_like_sign_ups(limited: RealtimeStack) -> None:
    async with supabase_client(limited) as client:
        await sign_up(client)  # the sign-up group; PUT /user has a bucket of its own
        for n in range(BURST):
            await client.auth.update_user({"data": {"n": n}})
        with pytest.raises(AuthApiError) as refused:
            await client.auth.update_user({"data": {"n": BURST}})
    assert (refused.value.status, refused.value.code) == (429, "over_request_rate_limit")


async def test_requests_refused_before_the_limit_do_not_count(limited: RealtimeStack) -> None:
    # GoTrue rejects an unknown grant and an anonymous sign-up before it counts a request.
    for _ in range(BURST + 1):
        status, _, body = await auth_request(
            limited, "POST", "/token?grant_type=magic", headers=headers(limited), body={}
        )
        assert (status, body["code"]) == (400, "invalid_credentials")
        status, _, body = await auth_request(
            limited, "POST", "/signup", headers=headers(limited), body={}
        )
        assert (status, body["code"]) == (422, "anonymous_provider_disabled")
    assert (await signup(limited, new_email()))[0] == 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refills_at_its_rate_and_never_above_its_burst() -> None:
    clock = FakeClock()
    bucket = KeyedBucket(rate=30 / 300, burst=30, ttl=3600, clock=clock)
    assert all(bucket.allow("1.2.3.4") for _ in range(30))
    assert not bucket.allow("1.2.3.4")
    clock.now += 9.9  # one request per 10 s
    assert not bucket.allow("1.2.3.4")
    clock.now += 0.1
    assert bucket.allow("1.2.3.4") and not bucket.allow("1.2.3.4")
    clock.now += 3000  # a long rest refills only up to the burst
    assert sum(bucket.allow("1.2.3.4") for _ in range(40)) == 30


def test_each_address_has_its_own_bucket_and_a_bucket_expires_an_hour_after_it_was_made() -> None:
    clock = FakeClock()
    bucket = KeyedBucket(rate=0.0, burst=2, ttl=3600, clock=clock)
    assert bucket.allow("a") and bucket.allow("a") and not bucket.allow("a")
    assert bucket.allow("b")
    clock.now += 3599
    assert not bucket.allow("a")
    clock.now += 1  # tollbooth's entry expires an hour after it was set: a full bucket again
    assert bucket.allow("a") and bucket.allow("a") and not bucket.allow("a")


def test_the_defaults_are_the_supabase_clis() -> None:
    defaults = AuthRateLimits()
    assert defaults == AuthRateLimits.from_config(EmbeddedConfig())
    assert (defaults.sign_in_sign_ups, defaults.token_refresh) == (30, 150)
    assert (defaults.burst, defaults.window_seconds, defaults.bucket_ttl_seconds) == (
        30,
        300.0,
        3600.0,
    )
