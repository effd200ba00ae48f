"""The public Auth routes: signup, token (password, refresh_token), user, logout, and the
health/settings/JWKS endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from gateway.embedded.auth import sessions, users
from gateway.embedded.auth.errors import (
    ANONYMOUS_PROVIDER_DISABLED,
    EMAIL_NOT_CONFIRMED,
    INVALID_CREDENTIALS,
    NOT_ADMIN,
    PHONE_PROVIDER_DISABLED,
    SAME_PASSWORD,
    USER_ALREADY_EXISTS,
    USER_BANNED,
    VALIDATION_FAILED,
    bad_request,
    forbidden,
    invalid_credentials,
    unprocessable,
)
from gateway.embedded.auth.guard import context, issuer, request_audience, require_user
from gateway.embedded.auth.models import User, merge_metadata
from gateway.embedded.auth.params import (
    PasswordGrantParams,
    RefreshGrantParams,
    SignupParams,
    UserUpdateParams,
    check_password,
    read_params,
    valid_email,
    valid_phone,
    weak_password,
)
from gateway.embedded.auth.passwords import hash_password, verify_password
from gateway.embedded.auth.ratelimit import limiters_key
from gateway.embedded.auth.tokens import session_json

EMAIL_PROVIDER_METADATA = {"provider": "email", "providers": ["email"]}
ADMIN_GROUP_NAME = "admin"  # GoTrue's default GOTRUE_JWT_ADMIN_GROUP_NAME
_LEGACY_REFRESH_TOKEN = re.compile(r"^[a-z0-9]{12}$")
_LOGOUT_SCOPES: dict[str, sessions.LogoutScope] = {
    "global": "global",
    "local": "local",
    "others": "others",
}
_PROVIDERS = (
    "anonymous_users apple azure bitbucket discord facebook snapchat figma fly github gitlab"
    " google keycloak kakao linkedin linkedin_oidc notion spotify slack slack_oidc workos"
    " twitch twitter email phone zoom"
).split()


async def health(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "version": "embedded",
            "name": "GoTrue",
            "description": "GoTrue is a user registration and authentication API",
        }
    )


async def settings(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "external": {name: name == "email" for name in _PROVIDERS},
            "disable_signup": False,
            "mailer_autoconfirm": True,
            "phone_autoconfirm": False,
            "sms_provider": "",
            "saml_enabled": False,
            "saml_private_key_next_configured": False,
            "passkeys_enabled": False,
        }
    )


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        context(request).keys.jwks(), headers={"Cache-Control": "public, max-age=600"}
    )


async def _signed_in(
    request: web.Request,
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    weak: dict[str, Any] | None = None,
) -> web.Response:
    """Start a session for the user (inside the caller's transaction) and answer with it."""
    grant = await sessions.start_session(conn, user_id)
    user = await users.find_by_id(conn, user_id)
    assert user is not None
    body = session_json(
        context(request).keys, user, grant, issuer=issuer(request), weak_password=weak
    )
    return web.json_response(body)


async def signup(request: web.Request) -> web.Response:
    # Auto-confirmed, as the Supabase CLI runs GoTrue (`enable_confirmations = false`).
    params = await read_params(request, SignupParams)
    email, phone, password = params.email or "", params.phone or "", params.password or ""
    if not email and not phone:
        raise unprocessable(ANONYMOUS_PROVIDER_DISABLED, "Anonymous sign-ins are disabled")
    request.config_dict[limiters_key].check(request, "signups")
    if not password:
        raise bad_request(VALIDATION_FAILED, "Signup requires a valid password")
    check_password(password)
    if email and phone:
        raise bad_request(
            VALIDATION_FAILED,
            "Only an email address or phone number should be provided on signup.",
        )
    if phone:
        raise bad_request(PHONE_PROVIDER_DISABLED, "Phone signups are disabled")
    email = valid_email(email)
    aud = request_audience(request)
    pool = context(request).pool
    async with pool.acquire() as conn:
        if await users.find_by_email(conn, email, aud) is not None:
            raise unprocessable(USER_ALREADY_EXISTS, "User already registered")
    hashed = await hash_password(password)
    new = users.NewUser(
        aud=aud,
        role="authenticated",
        email=email,
        phone=None,
        encrypted_password=hashed,
        app_metadata=dict(EMAIL_PROVIDER_METADATA),
        # GoTrue's confirmation step records the verification in user_metadata.
        user_metadata={**(params.data or {}), "email_verified": True},
        email_confirmed=True,
    )
    async with pool.acquire() as conn, conn.transaction():
        try:
            user = await users.insert_user(conn, new)
        except users.DuplicateUser:
            raise unprocessable(USER_ALREADY_EXISTS, "User already registered") from None
        return await _signed_in(request, conn, user.id)


async def token(request: web.Request) -> web.Response:
    grant_type = request.query.get("grant_type", "")
    if grant_type not in ("password", "refresh_token"):
        raise bad_request(INVALID_CREDENTIALS, "unsupported_grant_type")
    # One limiter for every grant, sign-ins and refreshes alike, as GoTrue's Token handler.
    request.config_dict[limiters_key].check(request, "token")
    if grant_type == "password":
        return await _password_grant(request)
    return await _refresh_grant(request)


async def _password_grant(request: web.Request) -> web.Response:
    params = await read_params(request, PasswordGrantParams)
    email, phone, password = params.email or "", params.phone or "", params.password or ""
    if email and phone:
        raise bad_request(
            VALIDATION_FAILED, "Only an email address or phone number should be provided on login."
        )
    if phone:
        raise unprocessable(PHONE_PROVIDER_DISABLED, "Phone logins are disabled")
    if not email:
        raise bad_request(VALIDATION_FAILED, "missing email or phone")
    pool = context(request).pool
    async with pool.acquire() as conn:
        user = await users.find_by_email(conn, email, request_audience(request))
    if user is not None and user.encrypted_password and user.is_banned(datetime.now(UTC)):
        raise bad_request(USER_BANNED, "User is banned")
    # Verified even for an unknown email, so the answer takes the same time.
    matches = await verify_password(password, user.encrypted_password if user else None)
    if user is None or not matches:
        raise invalid_credentials()
    if user.email_confirmed_at is None:
        raise bad_request(EMAIL_NOT_CONFIRMED, "Email not confirmed")
    problem = weak_password(password)
    weak = {"message": problem.message, "reasons": list(problem.reasons)} if problem else None
    async with pool.acquire() as conn, conn.transaction():
        return await _signed_in(request, conn, user.id, weak)


async def _refresh_grant(request: web.Request) -> web.Response:
    params = await read_params(request, RefreshGrantParams)
    refresh_token = params.refresh_token or ""
    # Only GoTrue's classic tokens exist here; anything else cannot be one of ours.
    if not _LEGACY_REFRESH_TOKEN.match(refresh_token):
        raise bad_request(VALIDATION_FAILED, "Refresh token is not valid")
    ctx = context(request)
    async with ctx.pool.acquire() as conn:
        refreshed = await sessions.refresh(
            conn, refresh_token, ctx.config.refresh_token_reuse_interval_seconds
        )
    return web.json_response(
        session_json(ctx.keys, refreshed.user, refreshed.grant, issuer=issuer(request))
    )


async def get_user(request: web.Request) -> web.Response:
    caller = await require_user(request)
    aud = caller.claims.raw.get("aud")
    token_aud = aud[0] if isinstance(aud, list) and aud else aud
    if token_aud != request_audience(request, caller.claims):
        raise bad_request(VALIDATION_FAILED, "Token audience doesn't match request audience")
    return web.json_response(caller.user.to_json())


def _unchanged_or_refuse(current: str, wanted: str, what: str) -> None:
    if wanted and wanted != current:
        raise unprocessable(
            VALIDATION_FAILED,
            f"Changing the {what} needs a confirmation message, which the embedded stack"
            " does not send; change it with the admin API",
        )


async def update_user(request: web.Request) -> web.Response:
    caller = await require_user(request)
    request.config_dict[limiters_key].check(request, "user")
    params = await read_params(request, UserUpdateParams)
    user = caller.user
    email = valid_email(params.email) if params.email else ""
    phone = valid_phone(params.phone) if params.phone else ""
    if params.password is not None:
        check_password(params.password)
    if params.app_metadata is not None and user.role != ADMIN_GROUP_NAME:
        raise forbidden(NOT_ADMIN, "Updating app_metadata requires admin privileges")
    _unchanged_or_refuse(user.email, email, "email address")
    _unchanged_or_refuse(user.phone, phone, "phone number")
    changes: dict[str, Any] = {}
    if params.password is not None:
        if await verify_password(params.password, user.encrypted_password):
            raise unprocessable(
                SAME_PASSWORD, "New password should be different from the old password."
            )
        changes["encrypted_password"] = await hash_password(params.password)
    async with context(request).pool.acquire() as conn, conn.transaction():
        locked = await users.find_by_id(conn, user.id, for_update=True)
        assert locked is not None
        if params.data is not None:
            changes["raw_user_meta_data"] = merge_metadata(locked.user_metadata, params.data)
        if params.app_metadata is not None:
            changes["raw_app_meta_data"] = merge_metadata(locked.app_metadata, params.app_metadata)
        updated: User = await users.update_user(conn, user.id, changes) if changes else locked
        if params.password is not None:
            # A new password signs out every other device, as GoTrue does.
            await sessions.end_sessions(conn, user.id, caller.session_id, "others")
    return web.json_response(updated.to_json())


async def logout(request: web.Request) -> web.Response:
    caller = await require_user(request)
    asked = request.query.get("scope", "")
    scope = _LOGOUT_SCOPES.get(asked or "global")
    if scope is None:
        raise bad_request(VALIDATION_FAILED, f'Unsupported logout scope "{asked}"')
    async with context(request).pool.acquire() as conn:
        await sessions.end_sessions(conn, caller.user.id, caller.session_id, scope)
    return web.Response(status=204)
