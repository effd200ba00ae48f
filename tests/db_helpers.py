"""Test helpers for talking to PostgreSQL as Supabase's API would: as a role with claims."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


async def create_user(conn: asyncpg.Connection, email: str | None = None) -> str:
    """Insert a confirmed user into auth.users; return its id."""
    user_id = str(uuid.uuid4())
    await conn.execute(
        "insert into auth.users (id, aud, role, email, email_confirmed_at, raw_app_meta_data,"
        " raw_user_meta_data, created_at, updated_at)"
        " values ($1, 'authenticated', 'authenticated', $2, now(), '{}', '{}', now(), now())",
        user_id,
        email or f"{user_id[:8]}@example.test",
    )
    return user_id


def user_claims(user_id: str) -> dict[str, object]:
    return {"sub": user_id, "role": "authenticated", "aud": "authenticated"}


@asynccontextmanager
async def acting_as(
    conn: asyncpg.Connection, user_id: str | None, *, topic: str | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction running as `authenticated` with user_id's claims (anon when None).

    Rolled back unless the block commits explicitly; use `committed_as` to keep writes.
    """
    tx = conn.transaction()
    await tx.start()
    try:
        await _become(conn, user_id, topic)
        yield conn
    finally:
        await tx.rollback()


@asynccontextmanager
async def committed_as(
    conn: asyncpg.Connection, user_id: str | None
) -> AsyncIterator[asyncpg.Connection]:
    """Like acting_as, but commits when the block succeeds."""
    async with conn.transaction():
        await _become(conn, user_id, None)
        yield conn


async def _become(conn: asyncpg.Connection, user_id: str | None, topic: str | None) -> None:
    role = "authenticated" if user_id else "anon"
    claims = user_claims(user_id) if user_id else {"role": "anon"}
    await conn.execute(
        "select set_config('request.jwt.claims', $1, true), set_config('realtime.topic', $2, true),"
        " set_config('role', $3, true)",
        json.dumps(claims),
        topic or "",
        role,
    )


async def start_direct_chat(conn: asyncpg.Connection, me: str, peer: str) -> str:
    async with committed_as(conn, me):
        chat_id = await conn.fetchval("select public.get_or_create_direct_chat($1)", peer)
    return str(chat_id)


async def send(
    conn: asyncpg.Connection, sender: str, chat_id: str, body: str, client_msg_id: str | None = None
) -> asyncpg.Record | None:
    """Insert a message as `sender`; None when the insert was skipped as a duplicate."""
    async with committed_as(conn, sender):
        row: asyncpg.Record | None = await conn.fetchrow(
            "insert into public.messages (chat_id, sender_id, body, client_msg_id)"
            " values ($1, $2, $3, $4) returning id, seq, created_at",
            chat_id,
            sender,
            body,
            client_msg_id,
        )
        return row
