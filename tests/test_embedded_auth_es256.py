"""User access tokens signed with ES256: our kid in the header, verifiable through JWKS."""

from __future__ import annotations

import jwt
import pytest

from gateway.config import EmbeddedConfig
from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import auth_request, sign_up, supabase_client


@pytest.fixture
def embedded_config() -> EmbeddedConfig:
    return EmbeddedConfig(signing="ES256")


async def test_access_tokens_are_es256_with_our_kid(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
    header = jwt.get_unverified_header(session.access_token)
    assert (header["alg"], header["kid"]) == ("ES256", embedded.keys.kid)


async def test_get_claims_verifies_the_token_with_the_published_jwks(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
        claims = await client.auth.get_claims()
    assert claims is not None
    assert claims["claims"]["sub"] == session.user.id
    assert claims["headers"]["kid"] == embedded.keys.kid


async def test_a_third_party_verifies_the_token_with_jwks_alone(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
        fetched = await client.auth.get_user()
    assert fetched is not None
    _, _, jwks = await auth_request(embedded, "GET", "/.well-known/jwks.json")
    key = jwt.PyJWKSet.from_dict(jwks)[embedded.keys.kid]
    claims = jwt.decode(
        session.access_token,
        key,
        algorithms=["ES256"],
        audience="authenticated",
        issuer=f"{embedded.url}/auth/v1",
    )
    assert claims["sub"] == fetched.user.id
