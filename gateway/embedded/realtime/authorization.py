"""Private-channel authorization: RLS on realtime.messages decides, probed as Supabase does.

Read: insert one probe row per extension as the server's own role, switch to the token's
role and claims, select the probes back (RLS SELECT policies decide), roll back.
Write: as the token's role, insert a probe per extension inside a savepoint; an RLS
`WITH CHECK` failure (insufficient_privilege) means no write. Nothing is ever committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from gateway.embedded.db import context_sql, literal
from gateway.embedded.keys import Claims

log = logging.getLogger(__name__)

BROADCAST = "broadcast"
PRESENCE = "presence"


@dataclass(slots=True)
class Policies:
    """What RLS allowed on one channel; None = not evaluated yet."""

    broadcast_read: bool | None = None
    broadcast_write: bool | None = None
    presence_read: bool | None = None
    presence_write: bool | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationContext:
    """Who asks, for which sub-topic, with which request headers (`request.headers`)."""

    topic: str
    claims: Claims
    headers: Mapping[str, str] = field(default_factory=dict)


class AuthorizationError(Exception):
    """The check itself failed; `code` is Supabase's error code (RlsPolicyError, ...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _settings(ctx: AuthorizationContext) -> dict[str, str]:
    return {
        "realtime.topic": ctx.topic,
        "request.jwt.claim.sub": ctx.claims.sub or "",
        "request.jwt.claim.role": ctx.claims.role,
    }


def _as_user(ctx: AuthorizationContext) -> str:
    return context_sql(ctx.claims, "GET", "/realtime", ctx.headers, _settings(ctx))


@asynccontextmanager
async def _probe(
    pool: asyncpg.Pool, ctx: AuthorizationContext, check: str, script: Callable[[], str]
) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction, opened together with `script` (one round trip),
    that is always rolled back; errors mapped to Supabase's codes."""
    try:
        async with pool.acquire() as conn:
            try:
                await conn.execute(f"begin; {script()}")
                yield conn
            finally:
                if conn.is_in_transaction():
                    await conn.execute("rollback")
    except asyncpg.PostgresError as exc:
        log.warning("RlsPolicyError on %s check of %s: %s", check, ctx.topic, exc.sqlstate)
        raise AuthorizationError("RlsPolicyError") from exc
    except ValueError as exc:  # a NUL in a value, which no literal can carry
        raise AuthorizationError("RlsPolicyError") from exc
    except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
        raise AuthorizationError("UnableToConnectToProject") from exc


async def read_policies(
    pool: asyncpg.Pool, ctx: AuthorizationContext, policies: Policies, *, presence: bool
) -> Policies:
    """Evaluate read access; presence is checked only when `presence` (else stays None).
    Probe rows go in as the server's own role, then the token's role reads them back."""
    extensions = [BROADCAST, PRESENCE] if presence else [BROADCAST]
    ids = [uuid.uuid4() for _ in extensions]

    def script() -> str:
        values = ", ".join(
            f"('{probe}', {literal(ctx.topic)}, '{extension}')"
            for probe, extension in zip(ids, extensions, strict=True)
        )
        insert = f"insert into realtime.messages (id, topic, extension) values {values}"
        return f"{insert}; {_as_user(ctx)}"

    async with _probe(pool, ctx, "read", script) as conn:
        rows = await conn.fetch("select id from realtime.messages where id = any($1::uuid[])", ids)
    visible = {row["id"] for row in rows}
    for extension, probe in zip(extensions, ids, strict=True):
        if extension == BROADCAST:
            policies.broadcast_read = probe in visible
        else:
            policies.presence_read = probe in visible
    return policies


async def write_policies(
    pool: asyncpg.Pool, ctx: AuthorizationContext, policies: Policies
) -> Policies:
    """Evaluate write access for broadcast and presence (both, as Supabase does)."""
    async with _probe(pool, ctx, "write", lambda: _as_user(ctx)) as conn:
        policies.broadcast_write = await _can_insert(conn, ctx.topic, BROADCAST)
        policies.presence_write = await _can_insert(conn, ctx.topic, PRESENCE)
    return policies


async def _can_insert(conn: asyncpg.Connection, topic: str, extension: str) -> bool:
    """A refused insert must not abort the probe: it runs in a savepoint (one round trip
    when allowed)."""
    try:
        await conn.execute(
            "savepoint probe; insert into realtime.messages (topic, extension)"
            f" values ({literal(topic)}, {literal(extension)}); release savepoint probe"
        )
    except asyncpg.InsufficientPrivilegeError:
        await conn.execute("rollback to savepoint probe")
        return False
    return True
