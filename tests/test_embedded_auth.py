"""The embedded Auth API through supabase-py: sign-up, sign-in, refresh, the user, sign-out."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError
from supabase_auth.types import SignInWithEmailAndPasswordCredentials

from gateway.embedded.db import as_role
from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import PASSWORD, new_email, sign_up, supabase_client


async def test_sign_up_returns_a_session_for_the_new_confirmed_user(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        session = await sign_up(client, email, {"display_name": "Ann"})
    user = session.user
    assert session.token_type == "bearer"
    assert session.expires_in == 3600
    assert len(session.refresh_token) == 12
    assert user.email == email
    assert user.aud == "authenticated" and user.role == "authenticated"
    assert user.email_confirmed_at is not None and user.confirmed_at is not None
    assert user.user_metadata["display_name"] == "Ann"
    assert user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert user.identities and user.identities[0].provider == "email"
    assert user.is_anonymous is False

    claims = embedded.keys.verify(session.access_token).raw
    assert claims["iss"] == f"{embedded.url}/auth/v1"
    assert claims["sub"] == user.id
    assert claims["aud"] == "authenticated" and claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["email"] == email and claims["phone"] == ""
    assert claims["aal"] == "aal1" and claims["amr"][0]["method"] == "password"
    assert claims["user_metadata"]["display_name"] == "Ann"
    assert uuid.UUID(claims["session_id"])
    assert claims["is_anonymous"] is False


async def test_sign_up_stores_a_scrypt_hash_and_the_supabase_columns(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
    conn = await asyncpg.connect(embedded.database_url)
    try:
        row = await conn.fetchrow(
            "select aud, role, encrypted_password, raw_app_meta_data::text as app,"
            " email_confirmed_at, last_sign_in_at, is_anonymous from auth.users where id = $1",
            uuid.UUID(session.user.id),
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["encrypted_password"].startswith("$scrypt$ln=14,r=8,p=1$")
    assert PASSWORD not in row["encrypted_password"]
    assert (row["aud"], row["role"]) == ("authenticated", "authenticated")
    assert row["is_anonymous"] is False
    assert row["app"] == '{"provider": "email", "providers": ["email"]}'
    assert row["email_confirmed_at"] is not None and row["last_sign_in_at"] is not None


async def test_signing_up_a_registered_email_fails_with_user_already_exists(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        await sign_up(client, email)
        with pytest.raises(AuthApiError) as caught:
            await client.auth.sign_up({"email": email.upper(), "password": PASSWORD})
    assert (caught.value.code, caught.value.status) == ("user_already_exists", 422)
    assert caught.value.message == "User already registered"


async def test_a_short_password_is_refused_as_weak(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthWeakPasswordError) as caught:
            await client.auth.sign_up({"email": new_email(), "password": "12345"})
    assert caught.value.status == 422
    assert caught.value.reasons == ["length"]
    assert caught.value.message == "Password should be at least 6 characters."


async def test_signing_in_with_the_password_opens_a_new_session(embedded: EmbeddedStack) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        first = await sign_up(client, email)
        # supabase-py now sends the sign-up token in Authorization; /token must not care.
        second = await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert second.session is not None
    first_claims = embedded.keys.verify(first.access_token).raw
    second_claims = embedded.keys.verify(second.session.access_token).raw
    assert second_claims["sub"] == first_claims["sub"]
    assert second_claims["session_id"] != first_claims["session_id"]
    assert second.session.refresh_token != first.refresh_token


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
async def test_bad_credentials_fail_with_invalid_credentials(
    embedded: EmbeddedStack, which: str
) -> None:
    email = new_email()
    attempt: SignInWithEmailAndPasswordCredentials = (
        {"email": email, "password": PASSWORD + "!"}
        if which == "wrong password"
        else {"email": new_email(), "password": PASSWORD}
    )
    async with supabase_client(embedded) as client:
        await sign_up(client, email)
        with pytest.raises(AuthApiError) as caught:
            await client.auth.sign_in_with_password(attempt)
    assert (caught.value.code, caught.value.status) == ("invalid_credentials", 400)
    assert caught.value.message == "Invalid login credentials"


async def test_refreshing_rotates_the_refresh_token_and_keeps_the_session(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        first = await sign_up(client)
        refreshed = await client.auth.refresh_session()
        # A client that lost the answer presents the old token again: it gets the same child.
        again = await client.auth.refresh_session(first.refresh_token)
    assert refreshed.session is not None and again.session is not None
    assert refreshed.session.refresh_token != first.refresh_token
    assert again.session.refresh_token == refreshed.session.refresh_token
    old_claims = embedded.keys.verify(first.access_token).raw
    new_claims = embedded.keys.verify(refreshed.session.access_token).raw
    assert new_claims["session_id"] == old_claims["session_id"]
    assert new_claims["amr"] == old_claims["amr"]


async def test_an_older_token_reused_within_the_reuse_interval_still_refreshes(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        first = await sign_up(client)
        await client.auth.refresh_session()
        await client.auth.refresh_session()
        late = await client.auth.refresh_session(first.refresh_token)
    assert late.session is not None and late.session.refresh_token != first.refresh_token
    assert embedded.keys.verify(late.session.access_token).raw["sub"] == first.user.id


async def test_get_user_returns_the_signed_in_user(embedded: EmbeddedStack) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        session = await sign_up(client, email)
        fetched = await client.auth.get_user()
    assert fetched is not None
    assert fetched.user.id == session.user.id
    assert fetched.user.email == email
    assert fetched.user.last_sign_in_at is not None


async def test_update_user_merges_metadata_and_a_null_removes_a_key(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        await sign_up(client, data={"display_name": "Ann", "theme": "dark"})
        updated = await client.auth.update_user({"data": {"display_name": "Anna", "theme": None}})
        fetched = await client.auth.get_user()
    assert updated.user.user_metadata["display_name"] == "Anna"
    assert "theme" not in updated.user.user_metadata
    assert fetched is not None and fetched.user.user_metadata == updated.user.user_metadata


async def test_a_new_password_works_and_the_old_one_stops_working(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        await sign_up(client, email)
        await client.auth.update_user({"password": "another-secret-7"})
        signed_in = await client.auth.sign_in_with_password(
            {"email": email, "password": "another-secret-7"}
        )
        with pytest.raises(AuthApiError) as caught:
            await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.session is not None
    assert caught.value.code == "invalid_credentials"


async def test_users_cannot_change_their_own_app_metadata(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        await sign_up(client)
        with pytest.raises(AuthApiError) as caught:
            await client.auth.update_user({"app_metadata": {"plan": "pro"}})  # type: ignore[typeddict-unknown-key]
    assert (caught.value.code, caught.value.status) == ("not_admin", 403)


async def test_after_sign_out_the_old_tokens_are_refused(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
        await client.auth.sign_out()
        with pytest.raises(AuthApiError) as user_error:
            await client.auth.get_user(session.access_token)
        with pytest.raises(AuthApiError) as refresh_error:
            await client.auth.refresh_session(session.refresh_token)
    assert (user_error.value.code, user_error.value.status) == ("session_not_found", 403)
    assert (refresh_error.value.code, refresh_error.value.status) == (
        "refresh_token_not_found",
        400,
    )


async def test_a_local_sign_out_leaves_other_devices_signed_in(embedded: EmbeddedStack) -> None:
    email = new_email()
    async with supabase_client(embedded) as phone, supabase_client(embedded) as laptop:
        await sign_up(phone, email)
        laptop_session = await laptop.auth.sign_in_with_password(
            {"email": email, "password": PASSWORD}
        )
        await phone.auth.sign_out({"scope": "local"})
        still_there = await laptop.auth.get_user()
    assert laptop_session.user is not None
    assert still_there is not None and still_there.user.id == laptop_session.user.id


async def test_the_publishable_key_works_as_the_api_key(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded, embedded.config.publishable_key) as client:
        session = await sign_up(client)
        fetched = await client.auth.get_user()
    assert fetched is not None and fetched.user.id == session.user.id


async def test_the_access_token_makes_rls_see_the_user(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        ann, bob, eve = [await sign_up(client) for _ in range(3)]
    pool = embedded.context.pool
    async with as_role(pool, embedded.keys.verify(ann.access_token)) as conn:
        assert str(await conn.fetchval("select auth.uid()")) == ann.user.id
        chat_id = await conn.fetchval(
            "select public.get_or_create_direct_chat($1)", uuid.UUID(bob.user.id)
        )
        members = await conn.fetch(
            "select user_id from public.chat_members where chat_id = $1", chat_id
        )
    assert {str(row["user_id"]) for row in members} == {ann.user.id, bob.user.id}
    async with as_role(pool, embedded.keys.verify(eve.access_token)) as conn:
        assert await conn.fetchval("select count(*) from public.chats") == 0
