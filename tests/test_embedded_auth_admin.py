"""The embedded Auth admin API through supabase-py's `auth.admin` with the service key."""

from __future__ import annotations

import pytest
from supabase_auth.errors import AuthApiError
from supabase_auth.types import SignInWithEmailAndPasswordCredentials

from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import (
    API_VERSION,
    PASSWORD,
    auth_request,
    new_email,
    sign_up,
    supabase_client,
)


async def test_admin_creates_a_confirmed_user_who_can_sign_in(embedded: EmbeddedStack) -> None:
    email = new_email()
    async with supabase_client(embedded, embedded.service_key) as admin:
        created = await admin.auth.admin.create_user(
            {
                "email": email,
                "password": PASSWORD,
                "email_confirm": True,
                "user_metadata": {"display_name": "Cy"},
                "app_metadata": {"plan": "pro"},
            }
        )
    assert created.user.email == email
    assert created.user.email_confirmed_at is not None
    assert created.user.user_metadata["display_name"] == "Cy"
    assert created.user.app_metadata == {
        "provider": "email",
        "providers": ["email"],
        "plan": "pro",
    }
    async with supabase_client(embedded) as client:
        signed_in = await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.user is not None and signed_in.user.id == created.user.id
    assert signed_in.user.app_metadata["plan"] == "pro"


async def test_an_unconfirmed_admin_created_user_cannot_sign_in(embedded: EmbeddedStack) -> None:
    email = new_email()
    async with supabase_client(embedded, embedded.service_key) as admin:
        await admin.auth.admin.create_user({"email": email, "password": PASSWORD})
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthApiError) as caught:
            await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert (caught.value.code, caught.value.status) == ("email_not_confirmed", 400)


async def test_admin_cannot_create_a_second_user_with_the_same_email(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded, embedded.service_key) as admin:
        await admin.auth.admin.create_user({"email": email, "password": PASSWORD})
        with pytest.raises(AuthApiError) as caught:
            await admin.auth.admin.create_user({"email": email, "password": PASSWORD})
    assert (caught.value.code, caught.value.status) == ("email_exists", 422)


async def test_admin_lists_users_page_by_page_newest_first(embedded: EmbeddedStack) -> None:
    emails = [new_email() for _ in range(3)]
    async with supabase_client(embedded, embedded.service_key) as admin:
        for email in emails:
            await admin.auth.admin.create_user({"email": email, "password": PASSWORD})
        first = await admin.auth.admin.list_users(page=1, per_page=2)
        second = await admin.auth.admin.list_users(page=2, per_page=2)
    assert [user.email for user in first + second] == list(reversed(emails))
    status, headers, body = await auth_request(
        embedded,
        "GET",
        "/admin/users?page=1&per_page=2",
        headers={"apikey": embedded.service_key, **API_VERSION},
    )
    assert status == 200
    assert body["aud"] == "authenticated" and len(body["users"]) == 2
    assert headers["X-Total-Count"] == "3"
    assert 'rel="next"' in headers["Link"] and 'rel="last"' in headers["Link"]


async def test_admin_reads_updates_and_deletes_a_user(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client, data={"a": 1})
    user_id = session.user.id
    async with supabase_client(embedded, embedded.service_key) as admin:
        fetched = await admin.auth.admin.get_user_by_id(user_id)
        updated = await admin.auth.admin.update_user_by_id(
            user_id, {"user_metadata": {"b": 2}, "app_metadata": {"role_hint": "mod"}}
        )
        await admin.auth.admin.delete_user(user_id)
        with pytest.raises(AuthApiError) as caught:
            await admin.auth.admin.get_user_by_id(user_id)
    assert fetched.user.id == user_id
    assert updated.user.user_metadata["a"] == 1 and updated.user.user_metadata["b"] == 2
    assert updated.user.app_metadata["role_hint"] == "mod"
    assert (caught.value.code, caught.value.status) == ("user_not_found", 404)
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthApiError) as gone:
            await client.auth.get_user(session.access_token)
    assert gone.value.code == "user_not_found"


async def test_an_admin_password_change_signs_the_user_out_everywhere(
    embedded: EmbeddedStack,
) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
    async with supabase_client(embedded, embedded.service_key) as admin:
        await admin.auth.admin.update_user_by_id(session.user.id, {"password": "reset-by-admin"})
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthApiError) as caught:
            await client.auth.get_user(session.access_token)
    assert caught.value.code == "session_not_found"


async def test_the_secret_key_is_an_admin_key(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded, embedded.config.secret_key) as admin:
        created = await admin.auth.admin.create_user({"email": new_email(), "password": PASSWORD})
    assert created.user.id


async def test_admin_routes_refuse_the_anon_key(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthApiError) as caught:
            await client.auth.admin.list_users()
    assert (caught.value.code, caught.value.status) == ("not_admin", 403)


async def test_admin_routes_refuse_a_user_access_token(embedded: EmbeddedStack) -> None:
    async with supabase_client(embedded) as client:
        session = await sign_up(client)
    status, _, body = await auth_request(
        embedded,
        "GET",
        "/admin/users",
        headers={
            "apikey": embedded.anon_key,
            "Authorization": f"Bearer {session.access_token}",
            **API_VERSION,
        },
    )
    assert (status, body["code"]) == (403, "not_admin")


async def test_a_soft_deleted_user_is_kept_but_can_no_longer_sign_in(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        session = await sign_up(client, email, {"display_name": "Dee"})
    async with supabase_client(embedded, embedded.service_key) as admin:
        await admin.auth.admin.delete_user(session.user.id, should_soft_delete=True)
        kept = await admin.auth.admin.get_user_by_id(session.user.id)
    assert kept.user.deleted_at is not None
    assert kept.user.email != email and kept.user.user_metadata == {}
    async with supabase_client(embedded) as client:
        with pytest.raises(AuthApiError) as caught:
            await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert caught.value.code == "invalid_credentials"


async def test_a_banned_user_cannot_sign_in_until_the_ban_is_lifted(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    async with supabase_client(embedded) as client:
        session = await sign_up(client, email)
    credentials: SignInWithEmailAndPasswordCredentials = {"email": email, "password": PASSWORD}
    async with supabase_client(embedded, embedded.service_key) as admin:
        banned = await admin.auth.admin.update_user_by_id(session.user.id, {"ban_duration": "24h"})
        async with supabase_client(embedded) as client:
            with pytest.raises(AuthApiError) as caught:
                await client.auth.sign_in_with_password(credentials)
        await admin.auth.admin.update_user_by_id(session.user.id, {"ban_duration": "none"})
        async with supabase_client(embedded) as client:
            signed_in = await client.auth.sign_in_with_password(credentials)
    assert banned.user.banned_until is not None
    assert (caught.value.code, caught.value.status) == ("user_banned", 400)
    assert signed_in.session is not None
