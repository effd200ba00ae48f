"""The admin user routes (/admin/users…) for service_role callers, as GoTrue's admin.go."""

from __future__ import annotations

import math
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.embedded.auth import sessions, users
from gateway.embedded.auth.errors import (
    DUPLICATE_EMAIL_MESSAGE,
    DUPLICATE_PHONE_MESSAGE,
    EMAIL_EXISTS,
    PHONE_EXISTS,
    USER_NOT_FOUND,
    VALIDATION_FAILED,
    AuthError,
    bad_request,
    unprocessable,
)
from gateway.embedded.auth.guard import context, request_audience, require_admin
from gateway.embedded.auth.models import User, merge_metadata
from gateway.embedded.auth.params import (
    AdminDeleteParams,
    AdminUserParams,
    check_password,
    read_params,
    valid_email,
    valid_phone,
)
from gateway.embedded.auth.passwords import hash_password, is_password_hash

DEFAULT_PER_PAGE = 50
MAX_PAGE = 10**9
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_ban_duration(text: str) -> timedelta:
    """Go's time.ParseDuration ("24h", "1h30m"), or "none" for no ban."""
    if text in ("none", "0", "+0", "-0"):
        return timedelta(0)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    seconds, position = 0.0, 0
    for part in _DURATION_PART.finditer(body):
        if part.start() != position:
            break
        seconds += float(part[1]) * _DURATION_UNITS[part[2]]
        position = part.end()
    if not body or position != len(body):
        raise bad_request(
            VALIDATION_FAILED, f'invalid format for ban duration: time: invalid duration "{text}"'
        )
    return timedelta(seconds=sign * seconds)


def _banned_until(ban_duration: str | None) -> tuple[bool, datetime | None]:
    """(whether to set banned_until, its value): a zero duration lifts a ban."""
    if not ban_duration:
        return False, None
    duration = parse_ban_duration(ban_duration)
    return True, (datetime.now(UTC) + duration if duration else None)


def _duplicate(err: users.DuplicateUser) -> AuthError:
    if err.field == "phone":
        return unprocessable(PHONE_EXISTS, DUPLICATE_PHONE_MESSAGE)
    if err.field == "id":
        return unprocessable(VALIDATION_FAILED, "A user with this ID already exists")
    return unprocessable(EMAIL_EXISTS, DUPLICATE_EMAIL_MESSAGE)


def _page_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(VALIDATION_FAILED, f"Bad Pagination Parameters: invalid {name} {raw!r}")
    return int(raw)


async def _load_user(request: web.Request) -> User:
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise AuthError(404, VALIDATION_FAILED, "user_id must be an UUID") from None
    async with context(request).pool.acquire() as conn:
        user = await users.find_by_id(conn, user_id)
    if user is None:
        raise AuthError(404, USER_NOT_FOUND, "User not found")
    return user


async def list_users(request: web.Request) -> web.Response:
    claims = await require_admin(request)
    page = _page_param(request, "page", 1)
    per_page = _page_param(request, "per_page", DEFAULT_PER_PAGE)
    aud = request_audience(request, claims)
    async with context(request).pool.acquire() as conn:
        found, total = await users.list_users(
            conn, aud, page=page, per_page=per_page, search=request.query.get("filter", "")
        )
    last = math.ceil(total / per_page)
    links = []
    if last > page:
        links.append(f'<{request.rel_url.update_query(page=page + 1)}>; rel="next"')
    links.append(f'<{request.rel_url.update_query(page=last)}>; rel="last"')
    return web.json_response(
        {"users": [user.to_json() for user in found], "aud": aud},
        headers={"Link": ", ".join(links), "X-Total-Count": str(total)},
    )


async def create_user(request: web.Request) -> web.Response:
    claims = await require_admin(request)
    params = await read_params(request, AdminUserParams)
    aud = params.aud or request_audience(request, claims)
    if not params.email and not params.phone:
        raise bad_request(
            VALIDATION_FAILED, "Cannot create a user without either an email or phone"
        )
    email = valid_email(params.email) if params.email else None
    phone = valid_phone(params.phone) if params.phone else None
    providers = [name for name, value in (("email", email), ("phone", phone)) if value]
    pool = context(request).pool
    async with pool.acquire() as conn:
        if email and await users.find_by_email(conn, email, aud) is not None:
            raise unprocessable(EMAIL_EXISTS, DUPLICATE_EMAIL_MESSAGE)
        if phone and await users.phone_taken(conn, phone, aud):
            raise unprocessable(PHONE_EXISTS, "Phone number already registered by another user")
    if params.password is not None and params.password_hash:
        raise bad_request(
            VALIDATION_FAILED, "Only a password or a password hash should be provided"
        )
    if params.password_hash:
        if not is_password_hash(params.password_hash):
            raise bad_request(VALIDATION_FAILED, "password_hash is not a supported hash")
        hashed = params.password_hash
    else:
        # No password: a random one nobody knows, as GoTrue does.
        hashed = await hash_password(params.password or secrets.token_urlsafe(48))
    user_id = uuid.uuid4()
    if params.id:
        try:
            user_id = uuid.UUID(params.id)
        except ValueError:
            raise bad_request(VALIDATION_FAILED, "ID must conform to the uuid v4 format") from None
        if user_id.int == 0:
            raise bad_request(VALIDATION_FAILED, "ID cannot be a nil uuid")
    _, banned_until = _banned_until(params.ban_duration)
    user_metadata = dict(params.user_metadata or {})
    if params.email_confirm:
        user_metadata["email_verified"] = True
    new = users.NewUser(
        id=user_id,
        aud=aud,
        role=params.role or "authenticated",
        email=email,
        phone=phone,
        encrypted_password=hashed,
        app_metadata=merge_metadata(
            {"provider": providers[0], "providers": providers}, params.app_metadata or {}
        ),
        user_metadata=user_metadata,
        email_confirmed=params.email_confirm,
        phone_confirmed=params.phone_confirm,
        banned_until=banned_until,
    )
    async with pool.acquire() as conn:
        try:
            user = await users.insert_user(conn, new)
        except users.DuplicateUser as err:
            raise _duplicate(err) from None
    return web.json_response(user.to_json())


async def get_user(request: web.Request) -> web.Response:
    await require_admin(request)
    return web.json_response((await _load_user(request)).to_json())


async def update_user(request: web.Request) -> web.Response:
    await require_admin(request)
    user = await _load_user(request)
    params = await read_params(request, AdminUserParams)
    changes: dict[str, Any] = {}
    if params.email:
        changes["email"] = valid_email(params.email)
    if params.phone:
        changes["phone"] = valid_phone(params.phone)
    ban, banned_until = _banned_until(params.ban_duration)
    if ban:
        changes["banned_until"] = banned_until
    if params.password is not None:
        check_password(params.password)
        changes["encrypted_password"] = await hash_password(params.password)
    if params.role:
        changes["role"] = params.role
    now = datetime.now(UTC)
    if params.email_confirm:
        changes["email_confirmed_at"] = now
    if params.phone_confirm:
        changes["phone_confirmed_at"] = now
    async with context(request).pool.acquire() as conn, conn.transaction():
        locked = await users.find_by_id(conn, user.id, for_update=True)
        if locked is None:
            raise AuthError(404, USER_NOT_FOUND, "User not found")
        user_metadata = dict(params.user_metadata or {})
        if params.email_confirm:
            user_metadata["email_verified"] = True
        if user_metadata:
            changes["raw_user_meta_data"] = merge_metadata(locked.user_metadata, user_metadata)
        if params.app_metadata is not None:
            changes["raw_app_meta_data"] = merge_metadata(locked.app_metadata, params.app_metadata)
        try:
            updated = await users.update_user(conn, user.id, changes) if changes else locked
        except users.DuplicateUser as err:
            raise _duplicate(err) from None
        if params.password is not None:
            await sessions.end_sessions(conn, user.id, None, "global")
    return web.json_response(updated.to_json())


async def delete_user(request: web.Request) -> web.Response:
    await require_admin(request)
    user = await _load_user(request)
    params = await read_params(request, AdminDeleteParams, empty_ok=True)
    async with context(request).pool.acquire() as conn, conn.transaction():
        if not params.should_soft_delete:
            await users.delete_user(conn, user.id)
        elif user.deleted_at is None:
            await users.update_user(conn, user.id, _scrubbed(user))
            await sessions.end_sessions(conn, user.id, None, "global")
    return web.json_response({})


def _scrubbed(user: User) -> dict[str, Any]:
    """GoTrue's soft delete: identifying fields replaced, password and metadata cleared."""
    marker = uuid.uuid5(uuid.NAMESPACE_OID, str(user.id)).hex
    return {
        "email": f"{marker}@deleted.invalid" if user.email else None,
        "phone": None,
        "encrypted_password": None,
        "raw_user_meta_data": {},
        "raw_app_meta_data": {},
        "deleted_at": datetime.now(UTC),
    }
