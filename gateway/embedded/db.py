"""The embedded stack's connection pool, and transactions that run as a JWT's role.

`as_role` is what makes RLS decide exactly as on Supabase: inside one transaction it
sets the role and `request.jwt.claims` (plus PostgREST's request.* settings) with
set_config(..., true), so they vanish at commit or rollback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg

from gateway.embedded.keys import Claims
from gateway.embedded.role_settings import RoleConfig


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's session reset (RESET ALL, UNLISTEN *, … — a
    round trip per request), as PostgREST does: everything we set is transaction-local
    (set_config(..., true)), and asyncpg itself rolls back a transaction left open."""


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_no_session_reset,
    )
    assert pool is not None
    return pool


def claims_json(claims: Claims) -> str:
    """PostgREST always puts `role` into request.jwt.claims, anon included."""
    raw = dict(claims.raw)
    raw.setdefault("role", claims.role)
    return json.dumps(raw, separators=(",", ":"))


@asynccontextmanager
async def as_role(
    pool: asyncpg.Pool,
    claims: Claims,
    *,
    read_only: bool = False,
    method: str = "POST",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
    role_config: RoleConfig | None = None,
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction running as `claims.role` with those claims, and
    with the role's settings (`role_config`: its statement_timeout above all).

    BEGIN and the settings travel as one simple-protocol message (one round trip, as
    PostgREST pipelines them); values are quoted literals, never interpolated raw.
    """
    config = role_config or RoleConfig()
    begin = f"begin isolation level {config.isolation}" + (" read only" if read_only else "")
    setters = context_sql(claims, method, path, headers, settings, config)
    async with pool.acquire() as conn:
        try:
            await conn.execute(f"{begin}; {setters}")
            yield conn
        except BaseException:
            await _abandon(conn)
            raise
        await conn.execute("commit")


async def _abandon(conn: asyncpg.Connection) -> None:
    """Roll back. A connection that cannot (its PostgreSQL died or restarted under it,
    or a cancelled query is still on it) is closed, so the pool opens a new one instead
    of handing this one out again; the caller sees the first error, not this one."""
    if conn.is_closed():
        return
    try:
        await conn.execute("rollback")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError):
        conn.terminate()


def context_sql(
    claims: Claims,
    method: str = "POST",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
    role_config: RoleConfig | None = None,
) -> str:
    """One `select set_config(...)` statement of literals, to ride in a simple-protocol
    script with other statements (one round trip)."""
    pairs = _context_pairs(claims, method, path, headers, settings, role_config or RoleConfig())
    return "select " + ", ".join(f"set_config({literal(n)}, {literal(v)}, true)" for n, v in pairs)


def literal(value: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings, on since PostgreSQL 9.1)."""
    if "\x00" in value:
        raise ValueError("NUL is not allowed in a setting")
    return "'" + value.replace("'", "''") + "'"


def _context_pairs(
    claims: Claims,
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    settings: Mapping[str, str] | None,
    config: RoleConfig,
) -> list[tuple[str, str]]:
    """PostgREST's transaction-local settings, the role last: once it is set, the session
    may no longer set privileged settings (select items are evaluated left to right).
    The login role's settings come first (PostgREST's session has them from its login,
    so its search_path wins over them), the role's own right after search_path."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return [
        *config.login,
        ("search_path", '"public", "extensions"'),
        *config.role,
        ("request.jwt.claims", claims_json(claims)),
        ("request.method", method),
        ("request.path", path),
        ("request.headers", json.dumps(lowered)),
        ("request.cookies", "{}"),
        *(settings or {}).items(),
        ("role", claims.role),
    ]
