"""Who is calling: GoTrue's requireAuthentication and requireAdminCredentials, with the
bearer chosen by `KeyRing.bearer_for` (the Supabase CLI gateway's apikey rule)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from gateway.embedded.appkeys import EmbeddedContext, context_key
from gateway.embedded.auth import sessions, users
from gateway.embedded.auth.errors import (
    BAD_JWT,
    NO_AUTHORIZATION,
    NOT_ADMIN,
    SESSION_NOT_FOUND,
    USER_BANNED,
    USER_NOT_FOUND,
    AuthError,
    bad_request,
    forbidden,
)
from gateway.embedded.auth.models import User
from gateway.embedded.keys import Claims, TokenError

ADMIN_ROLES = frozenset({"service_role"})  # GOTRUE_JWT_ADMIN_ROLES in the Supabase CLI
DEFAULT_AUDIENCE = "authenticated"
AUDIENCE_HEADER = "X-JWT-AUD"

# How GoTrue (golang-jwt) words each rejection after "unable to parse or verify signature, ".
_TOKEN_PROBLEMS = {
    TokenError.EXPIRED: "token has invalid claims: token is expired",
    TokenError.BAD_SIGNATURE: "token signature is invalid: signature is invalid",
    TokenError.UNKNOWN_KID: "token is unverifiable: error while executing keyfunc",
}


@dataclass(frozen=True)
class Caller:
    """An authenticated user request: verified claims, the user row, the live session."""

    claims: Claims
    user: User
    session_id: uuid.UUID | None


def context(request: web.Request) -> EmbeddedContext:
    return request.config_dict[context_key]


def issuer(request: web.Request) -> str:
    """GOTRUE_JWT_ISSUER as the CLI sets it: the API's external URL plus /auth/v1."""
    return f"{request.url.origin()}/auth/v1"


def request_audience(request: web.Request, claims: Claims | None = None) -> str:
    """GoTrue's requestAud: the X-JWT-AUD header, else a non-admin token's aud, else default."""
    header = request.headers.get(AUDIENCE_HEADER)
    if header:
        return header
    if claims is not None and claims.role not in ADMIN_ROLES:
        aud = claims.raw.get("aud")
        first = aud[0] if isinstance(aud, list) and aud else aud
        if isinstance(first, str) and first:
            return first
    return DEFAULT_AUDIENCE


def _verified_bearer(request: web.Request) -> Claims:
    # Only routes that need a caller come here: /signup and /token never read Authorization,
    # where supabase-py leaves the previous session's token.
    keys = context(request).keys
    apikey = request.headers.get("apikey") or request.query.get("apikey")
    token = keys.bearer_for(apikey, request.headers.get("Authorization"))
    if not token:
        raise AuthError(401, NO_AUTHORIZATION, "This endpoint requires a valid Bearer token")
    try:
        return keys.verify(token, require=())
    except TokenError as err:
        problem = _TOKEN_PROBLEMS.get(err.reason, f"token is malformed: {err.message}")
        raise forbidden(
            BAD_JWT, f"invalid JWT: unable to parse or verify signature, {problem}"
        ) from None


def _session_claim(claims: Claims) -> uuid.UUID | None:
    raw = claims.raw.get("session_id")
    if not raw or raw == str(uuid.UUID(int=0)):
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise forbidden(BAD_JWT, "invalid claim: session_id claim must be a UUID") from None


async def _load_user_and_session(
    request: web.Request, claims: Claims
) -> tuple[User, uuid.UUID | None]:
    """GoTrue's maybeLoadUserOrSession: the sub must be a user, a session_id a live session."""
    if not claims.sub:
        raise forbidden(BAD_JWT, "invalid claim: missing sub claim")
    try:
        user_id = uuid.UUID(claims.sub)
    except ValueError:
        raise bad_request(BAD_JWT, "invalid claim: sub claim must be a UUID") from None
    async with context(request).pool.acquire() as conn:
        user = await users.find_by_id(conn, user_id)
        if user is None:
            raise forbidden(USER_NOT_FOUND, "User from sub claim in JWT does not exist")
        session_id = _session_claim(claims)
        if session_id is not None and await sessions.session_started_at(conn, session_id) is None:
            raise forbidden(
                SESSION_NOT_FOUND, "Session from session_id claim in JWT does not exist"
            )
    return user, session_id


async def require_user(request: web.Request) -> Caller:
    """The signed-in user behind the bearer token, or the GoTrue error explaining why not."""
    claims = _verified_bearer(request)
    user, session_id = await _load_user_and_session(request, claims)
    if user.is_banned(datetime.now(UTC)):
        raise forbidden(USER_BANNED, "User is banned")
    return Caller(claims, user, session_id)


async def require_admin(request: web.Request) -> Claims:
    """A token whose role is an admin role (service_role); a user token's session must live."""
    claims = _verified_bearer(request)
    if _session_claim(claims) is not None:
        await _load_user_and_session(request, claims)
    if claims.role not in ADMIN_ROLES:
        raise forbidden(NOT_ADMIN, "User not allowed")
    return claims
