"""Benchmark users and their chats, made through the public APIs as an app would.

With the service key and the JWT secret (the embedded stack prints both), users are
created through the Auth admin API without a password and their access tokens are
signed here like Auth's own — fast enough for thousands of users. Without them, users
sign up with a password (the Auth API hashes it: slow, but works on any project). Chats
are created by the users themselves through the Data API's `get_or_create_direct_chat`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import jwt

PASSWORD = "bench-password-not-secret"
TOKEN_LIFETIME_SECONDS = 6 * 3600
CONCURRENCY = 16

T = TypeVar("T")


@dataclass(frozen=True)
class BenchUser:
    index: int
    id: str
    token: str


@dataclass(frozen=True)
class Chat:
    id: str
    members: tuple[int, ...]  # user indexes


@dataclass(frozen=True)
class Project:
    url: str
    anon_key: str | None
    service_key: str | None
    jwt_secret: str | None


def _sign(user_id: str, email: str, secret: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": "authenticated",
        "aud": "authenticated",
        "email": email,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECONDS,
        "session_id": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def _admin_create(http: aiohttp.ClientSession, project: Project, email: str) -> str:
    assert project.service_key is not None
    headers = {"apikey": project.service_key, "Authorization": f"Bearer {project.service_key}"}
    body = {"email": email, "email_confirm": True}
    async with http.post(f"{project.url}/auth/v1/admin/users", json=body, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"admin create user failed: HTTP {r.status}")
        return str((await r.json())["id"])


async def _sign_up(http: aiohttp.ClientSession, project: Project, email: str) -> tuple[str, str]:
    headers = {"apikey": project.anon_key or ""}
    body = {"email": email, "password": PASSWORD}
    async with http.post(f"{project.url}/auth/v1/signup", json=body, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"sign-up failed: HTTP {r.status}")
        session = await r.json()
    if "access_token" not in session:
        raise RuntimeError("sign-up gave no session (does the project confirm emails?)")
    return str(session["user"]["id"]), str(session["access_token"])


async def _bounded(count: int, make: Callable[[int], Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> T:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def create_users(project: Project, count: int, run_id: str) -> list[BenchUser]:
    async with aiohttp.ClientSession() as http:

        async def make(i: int) -> BenchUser:
            email = f"bench-{run_id}-{i}@example.test"
            if project.service_key and project.jwt_secret:
                user_id = await _admin_create(http, project, email)
                return BenchUser(i, user_id, _sign(user_id, email, project.jwt_secret))
            user_id, token = await _sign_up(http, project, email)
            return BenchUser(i, user_id, token)

        return await _bounded(count, make)


async def create_chats(project: Project, users: list[BenchUser], group_size: int) -> list[Chat]:
    """Users 0-1, 2-3, … each share one direct chat (group_size is 2 until groups exist)."""
    if group_size != 2:
        raise ValueError("only direct chats (group size 2) exist so far")
    apikey = project.anon_key or project.service_key or ""
    async with aiohttp.ClientSession() as http:

        async def make(k: int) -> Chat:
            a, b = users[2 * k], users[2 * k + 1]
            headers = {"apikey": apikey, "Authorization": f"Bearer {a.token}"}
            url = f"{project.url}/rest/v1/rpc/get_or_create_direct_chat"
            async with http.post(url, json={"peer_id": b.id}, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"creating a chat failed: HTTP {r.status}")
                return Chat(str(await r.json()), (a.index, b.index))

        return await _bounded(len(users) // 2, make)
