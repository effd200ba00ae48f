"""Helpers for the embedded Auth API tests: official supabase-py clients on the running
embedded stack, and unique addresses so tests never collide."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from supabase import AsyncClient, AsyncClientOptions, acreate_client
from supabase_auth.types import Session

from tests.conftest import EmbeddedStack

PASSWORD = "correct-horse-42"
API_VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@asynccontextmanager
async def supabase_client(
    embedded: EmbeddedStack, key: str | None = None
) -> AsyncIterator[AsyncClient]:
    """A supabase-py client; no refresh timer, so a test ends with nothing scheduled."""
    client = await acreate_client(
        embedded.url,
        key or embedded.anon_key,
        options=AsyncClientOptions(auto_refresh_token=False, persist_session=False),
    )
    try:
        yield client
    finally:
        await client.auth.close()


async def sign_up(
    client: AsyncClient, email: str | None = None, data: dict[str, Any] | None = None
) -> Session:
    """A new user through supabase-py; sign-up is auto-confirmed, so there is a session."""
    result = await client.auth.sign_up(
        {"email": email or new_email(), "password": PASSWORD, "options": {"data": data or {}}}
    )
    assert result.session is not None
    return result.session


async def auth_request(
    embedded: EmbeddedStack,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, dict[str, str], Any]:
    """One raw HTTP call to /auth/v1 (for headers and shapes the client hides)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{embedded.url}/auth/v1{path}", headers=headers, json=body
        ) as resp,
    ):
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, dict(resp.headers), payload
