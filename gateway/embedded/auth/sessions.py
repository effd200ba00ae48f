"""Sessions and rotating refresh tokens (auth.sessions, auth.refresh_tokens), with GoTrue's
reuse detection."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from gateway.embedded.auth import users
from gateway.embedded.auth.errors import (
    REFRESH_TOKEN_ALREADY_USED,
    REFRESH_TOKEN_NOT_FOUND,
    SESSION_EXPIRED,
    SESSION_NOT_FOUND,
    USER_BANNED,
    AuthError,
    bad_request,
)
from gateway.embedded.auth.models import User

LogoutScope = Literal["global", "local", "others"]

REFRESH_TOKEN_LENGTH = 12


@dataclass(frozen=True)
class SessionGrant:
    """What a session response needs: the session, when it began, its newest token."""

    session_id: uuid.UUID
    signed_in_at: datetime
    refresh_token: str


@dataclass(frozen=True)
class Refreshed:
    user: User
    grant: SessionGrant


def new_refresh_token() -> str:
    """GoTrue's format: 12 lowercase base32 characters from a CSPRNG."""
    raw = base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()
    return raw[:REFRESH_TOKEN_LENGTH]


def _not_found() -> AuthError:
    return bad_request(REFRESH_TOKEN_NOT_FOUND, "Invalid Refresh Token: Refresh Token Not Found")


async def _insert_token(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID, parent: str | None
) -> str:
    token = new_refresh_token()
    await conn.execute(
        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, parent, session_id)"
        " values ('00000000-0000-0000-0000-000000000000', $1, $2, false, $3, $4)",
        token,
        str(user_id),
        parent,
        session_id,
    )
    await conn.execute("update auth.users set last_sign_in_at = now() where id = $1", user_id)
    return token


async def start_session(conn: asyncpg.Connection, user_id: uuid.UUID) -> SessionGrant:
    """A new session with its first refresh token; call inside a transaction."""
    session_id = uuid.uuid4()
    created_at = await conn.fetchval(
        "insert into auth.sessions (id, user_id) values ($1, $2) returning created_at",
        session_id,
        user_id,
    )
    token = await _insert_token(conn, user_id, session_id, None)
    return SessionGrant(session_id, created_at, token)


async def session_started_at(conn: asyncpg.Connection, session_id: uuid.UUID) -> datetime | None:
    started: datetime | None = await conn.fetchval(
        "select created_at from auth.sessions where id = $1", session_id
    )
    return started


async def end_sessions(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    scope: LogoutScope,
) -> None:
    """Delete sessions (their refresh tokens cascade). Without a session, always global."""
    if session_id is not None and scope == "local":
        await conn.execute("delete from auth.sessions where id = $1", session_id)
    elif session_id is not None and scope == "others":
        await conn.execute(
            "delete from auth.sessions where user_id = $1 and id <> $2", user_id, session_id
        )
    else:
        await conn.execute("delete from auth.sessions where user_id = $1", user_id)


async def refresh(conn: asyncpg.Connection, token: str, reuse_interval: int) -> Refreshed:
    """Swap `token` for a new one; raises AuthError as GoTrue's refresh_token grant.

    Locks are taken session first, then token: the order of the cascade when a logout
    deletes the session, so the two never deadlock.
    """
    failure: AuthError | None = None
    async with conn.transaction():
        session_id = await conn.fetchval(
            "select session_id from auth.refresh_tokens where token = $1", token
        )
        session = None
        if session_id is not None:
            session = await conn.fetchrow(
                "select id, created_at, not_after < now() as expired from auth.sessions"
                " where id = $1 for update",
                session_id,
            )
        row = await conn.fetchrow(
            "select id, token, user_id, revoked, session_id,"
            " clock_timestamp() > updated_at + make_interval(secs => $2) as reuse_expired"
            " from auth.refresh_tokens where token = $1 for update",
            token,
            float(reuse_interval),
        )
        if row is None:
            raise _not_found()
        user = await _token_owner(conn, row["user_id"])
        if user is None:
            raise _not_found()
        if user.is_banned(datetime.now(UTC)):
            raise bad_request(USER_BANNED, "Invalid Refresh Token: User Banned")
        if session is None or session["id"] != row["session_id"]:
            await conn.execute("delete from auth.refresh_tokens where id = $1", row["id"])
            failure = bad_request(
                SESSION_NOT_FOUND, "Invalid Refresh Token: No Valid Session Found"
            )
        elif session["expired"]:
            raise bad_request(SESSION_EXPIRED, "Invalid Refresh Token: Session Expired")
        else:
            issued, failure = await _rotate(conn, row, user.id, session["id"])
            if issued is not None:
                await conn.execute(
                    "update auth.sessions set updated_at = now() where id = $1", session["id"]
                )
                fresh = await users.find_by_id(conn, user.id)
                assert fresh is not None
                return Refreshed(fresh, SessionGrant(session["id"], session["created_at"], issued))
    # Outside the block: the revocation above is committed before the client hears no.
    assert failure is not None
    raise failure


async def _token_owner(conn: asyncpg.Connection, user_id: str | None) -> User | None:
    try:
        owner = uuid.UUID(user_id or "")
    except ValueError:
        return None
    return await users.find_by_id(conn, owner)


async def _rotate(
    conn: asyncpg.Connection, row: asyncpg.Record, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str | None, AuthError | None]:
    """(the token to hand out, None) or (None, the error once the session is ended).

    A revoked token that is the parent of the active one gets that one back (the client lost
    the answer); within the reuse interval it gets another child; later it is taken as
    theft and the session ends, every refresh token with it (GoTrue's answer to a reused
    token in its current algorithm: `LogoutSession` in internal/tokens/service.go). Its
    legacy-token path only revoked the family, bumping `updated_at`, which reopened the reuse
    interval for the newest token: whoever held it could go on refreshing.
    """
    if row["revoked"]:
        active = await conn.fetchrow(
            "select token, parent from auth.refresh_tokens"
            " where session_id = $1 and revoked = false order by id desc limit 1",
            session_id,
        )
        if active is not None and active["parent"] == row["token"]:
            return str(active["token"]), None
        if row["reuse_expired"]:
            await conn.execute("delete from auth.sessions where id = $1", session_id)
            return None, bad_request(
                REFRESH_TOKEN_ALREADY_USED, "Invalid Refresh Token: Already Used"
            )
    else:
        await conn.execute(
            "update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1",
            row["id"],
        )
    return await _insert_token(conn, user_id, session_id, str(row["token"])), None
