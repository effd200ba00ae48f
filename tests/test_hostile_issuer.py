"""`auth.issuer`: when set, a token must carry exactly that `iss`. Supabase Auth signs every
access token with `iss` = its GOTRUE_JWT_ISSUER — the project's `<url>/auth/v1` on hosted
projects and in the CLI (supabase/auth `internal/tokens/service.go`, the access token's
RegisteredClaims `Issuer: config.JWT.Issuer`) — so a token signed with the right key but
minted elsewhere (another project or tool sharing the secret) is refused: 401
`token_invalid` on REST, close 4001 on the WebSocket, nothing written.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import Gateway, User, api, connect, gateway_config, running_gateway
from tests.rest_helpers import run_sql


@pytest.fixture
async def strict_gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    config = gateway_config(embedded, auth={"issuer": f"{embedded.url}/auth/v1"})
    async with running_gateway(config, embedded) as gw:
        yield gw


def _signed(embedded: EmbeddedStack, user: User, **extra: str) -> str:
    now = int(time.time())
    claims = {"sub": user.id, "role": "authenticated", "aud": "authenticated", "iat": now}
    return embedded.keys.sign(claims | {"exp": now + 600} | extra)


@pytest.mark.parametrize("iss", ["https://evil.example/auth/v1", None])
async def test_a_token_of_another_issuer_is_refused_and_writes_nothing(
    strict_gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User, iss: str | None
) -> None:
    token = _signed(embedded, alice, **({"iss": iss} if iss else {}))
    status, answer = await api(
        strict_gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=token,
        json_body={"message_text": "x"},
    )
    assert (status, answer["error"]["code"]) == (401, "token_invalid")
    async with connect(strict_gateway, f"/ws/{bob.id}", token=token) as by_query:
        assert await by_query.wait_closed() == 4001
        assert (await by_query.next("error"))["code"] == "token_invalid"
    async with connect(strict_gateway, "/ws") as by_frame:
        await by_frame.send({"type": "auth", "token": token})
        assert await by_frame.wait_closed() == 4001
    assert await run_sql(embedded, "select id from public.messages where $1", True) == []


async def test_auth_s_own_tokens_carry_the_configured_issuer_and_pass(
    strict_gateway: Gateway, alice: User, bob: User
) -> None:
    status, answer = await api(
        strict_gateway,
        "POST",
        f"/api/chat/{bob.id}/send",
        token=alice.token,  # signed up through the embedded Auth API
        json_body={"message_text": "hi"},
    )
    assert status == 201, answer


async def test_without_an_issuer_configured_iss_is_not_checked(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    token = _signed(embedded, alice, iss="https://elsewhere.example/auth/v1")
    status, answer = await api(
        gateway, "POST", f"/api/chat/{bob.id}/send", token=token, json_body={"message_text": "x"}
    )
    assert status == 201, answer
