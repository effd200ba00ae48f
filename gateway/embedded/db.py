"""The embedded stack's connection pool, and transactions that run as a JWT's role.

`as_role` is what makes RLS decide exactly as on Supabase: inside one transaction it
sets the role and `request.jwt.claims` (plus PostgREST's request.* settings) with
set_config(..., true), so they vanish at commit or rollback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.embedded.keys import Claims


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_init_connection
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
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction running as `claims.role` with those claims."""
    async with pool.acquire() as conn, conn.transaction(readonly=read_only):
        await set_request_context(
            conn, claims, method=method, path=path, headers=headers, settings=settings
        )
        yield conn


async def set_request_context(
    conn: asyncpg.Connection,
    claims: Claims,
    *,
    method: str = "POST",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> None:
    """Transaction-local settings PostgREST sets before the main query."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    extra: dict[str, Any] = dict(settings or {})
    names = [
        "search_path",
        "request.jwt.claims",
        "request.method",
        "request.path",
        "request.headers",
        "request.cookies",
        *extra,
        "role",
    ]
    values = [
        '"public", "extensions"',
        claims_json(claims),
        method,
        path,
        json.dumps(lowered),
        "{}",
        *extra.values(),
        claims.role,
    ]
    placeholders = ", ".join(
        f"set_config(${2 * i + 1}, ${2 * i + 2}, true)" for i in range(len(names))
    )
    args: list[str] = []
    for name, value in zip(names, values, strict=True):
        args += [name, value]
    # The role goes last (select items are evaluated left to right): after it, the session
    # can no longer set privileged settings. One statement: one round trip per request.
    await conn.execute(f"select {placeholders}", *args)
