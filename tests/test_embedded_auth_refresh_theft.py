"""A stolen refresh token, with GoTrue's default reuse interval (the CLI's 10 s): once a
rotated token comes back after its interval, the session ends for everybody, the holder of
the newest token included (supabase/auth `internal/tokens/service.go`: a reuse that is
neither a lost answer nor a concurrent refresh calls `models.LogoutSession` and answers 400
`refresh_token_already_used` "Invalid Refresh Token: Already Used"; the session's tokens go
with it, so they are then `refresh_token_not_found`, and its access tokens
`session_not_found` on /user). The interval's end is reached by dating the rotation back,
not by waiting.
"""

from __future__ import annotations

import asyncpg
import pytest
from supabase_auth.errors import AuthApiError

from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import API_VERSION, auth_request, sign_up, supabase_client


async def rotated_a_minute_ago(embedded: EmbeddedStack, token: str) -> None:
    conn = await asyncpg.connect(embedded.database_url)
    try:
        await conn.execute(
            "update auth.refresh_tokens set updated_at = now() - interval '1 minute'"
            " where token = $1",
            token,
        )
    finally:
        await conn.close()


async def test_a_reused_old_token_ends_the_session_for_the_newest_token_too(
    embedded: EmbeddedStack,
) -> None:
    assert embedded.config.refresh_token_reuse_interval_seconds == 10
    async with supabase_client(embedded) as victim, supabase_client(embedded) as thief:
        first = await sign_up(victim)
        second = await victim.auth.refresh_session(first.refresh_token)
        assert second.session is not None
        # Rotated twice: `first` is no longer the parent of the live token, which GoTrue
        # would hand back to it as to a client that lost the answer.
        newest = await victim.auth.refresh_session(second.session.refresh_token)
        assert newest.session is not None
        await rotated_a_minute_ago(embedded, first.refresh_token)

        with pytest.raises(AuthApiError) as reused:
            await thief.auth.refresh_session(first.refresh_token)
        with pytest.raises(AuthApiError) as after:
            await victim.auth.refresh_session(newest.session.refresh_token)
    assert (reused.value.status, reused.value.code) == (400, "refresh_token_already_used")
    assert reused.value.message == "Invalid Refresh Token: Already Used"
    assert (after.value.status, after.value.code) == (400, "refresh_token_not_found")
    assert after.value.message == "Invalid Refresh Token: Refresh Token Not Found"

    status, _, body = await auth_request(
        embedded,
        "GET",
        "/user",
        headers={
            "apikey": embedded.anon_key,
            "Authorization": f"Bearer {newest.session.access_token}",
            **API_VERSION,
        },
    )
    assert (status, body["code"]) == (403, "session_not_found")


async def test_the_newest_token_cannot_be_replayed_to_reopen_the_session(
    embedded: EmbeddedStack,
) -> None:
    # The old revocation bumped every token's `updated_at`, so each was "just rotated" and
    # inside its reuse interval again: the newest one kept minting sessions.
    async with supabase_client(embedded) as client:
        first = await sign_up(client)
        second = await client.auth.refresh_session(first.refresh_token)
        third = await client.auth.refresh_session(second.session.refresh_token)  # type: ignore[union-attr]
        assert third.session is not None
        await rotated_a_minute_ago(embedded, first.refresh_token)
        with pytest.raises(AuthApiError):
            await client.auth.refresh_session(first.refresh_token)
        for token in (third.session.refresh_token, second.session.refresh_token):  # type: ignore[union-attr]
            with pytest.raises(AuthApiError) as refused:
                await client.auth.refresh_session(token)
            assert str(refused.value.code) == "refresh_token_not_found"


async def test_a_reuse_within_the_interval_still_gets_a_session(embedded: EmbeddedStack) -> None:
    # Two tabs refreshing with the same token a moment apart is not theft.
    async with supabase_client(embedded) as client:
        first = await sign_up(client)
        await client.auth.refresh_session(first.refresh_token)
        second = await client.auth.refresh_session(first.refresh_token)
        assert second.session is not None
        third = await client.auth.refresh_session(second.session.refresh_token)
    assert third.session is not None
