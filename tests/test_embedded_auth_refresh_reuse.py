"""Refresh-token reuse detection with no reuse interval: an old token presented again
ends the whole session, as GoTrue does when it suspects theft."""

from __future__ import annotations

import asyncio

import pytest
from supabase_auth.errors import AuthApiError

from gateway.config import EmbeddedConfig
from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import API_VERSION, auth_request, sign_up, supabase_client


@pytest.fixture
def embedded_config() -> EmbeddedConfig:
    return EmbeddedConfig(refresh_token_reuse_interval_seconds=0)


async def test_the_parent_of_the_active_token_still_gets_the_active_token(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        first = (await sign_up(client)).refresh_token
        second = await client.auth.refresh_session(first)
        replayed = await client.auth.refresh_session(first)
    assert second.session is not None and replayed.session is not None
    assert replayed.session.refresh_token == second.session.refresh_token


async def test_reusing_an_older_token_revokes_every_token_of_the_session(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        tokens = [(await sign_up(client)).refresh_token]
        for _ in range(2):
            refreshed = await client.auth.refresh_session(tokens[-1])
            assert refreshed.session is not None
            tokens.append(refreshed.session.refresh_token)
        with pytest.raises(AuthApiError) as reused:
            await client.auth.refresh_session(tokens[0])
        with pytest.raises(AuthApiError) as latest:
            await client.auth.refresh_session(tokens[-1])
    assert (reused.value.code, reused.value.status) == ("refresh_token_already_used", 400)
    assert reused.value.message == "Invalid Refresh Token: Already Used"
    # The session is gone (GoTrue's LogoutSession), and its tokens with it.
    assert (latest.value.code, latest.value.status) == ("refresh_token_not_found", 400)


async def test_two_devices_refreshing_at_once_get_the_same_new_token(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        token = (await sign_up(client)).refresh_token
    body = {"refresh_token": token}
    headers = {"apikey": embedded.anon_key, **API_VERSION}
    answers = await asyncio.gather(
        *(
            auth_request(
                embedded, "POST", "/token?grant_type=refresh_token", headers=headers, body=body
            )
            for _ in range(4)
        )
    )
    assert [status for status, _, _ in answers] == [200] * 4
    assert len({payload["refresh_token"] for _, _, payload in answers}) == 1
