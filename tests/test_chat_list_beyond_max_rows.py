"""A user with more chats than the Data API's max rows (1,000, the Supabase CLI's and
hosted projects' default `db-max-rows`, which PostgREST applies to a set-returning
function's rows too) still gets all of them: in `/api/chats`, and as the start points of
a new socket, so a message in their 1,001st chat arrives once, not with its history.
"""

from __future__ import annotations

import uuid

import asyncpg

from tests.conftest import EmbeddedStack
from tests.gateway_helpers import Gateway, User, api, connect, rest_send

MAX_ROWS = 1000


async def give_chats(embedded: EmbeddedStack, user: User, count: int) -> None:
    """`count` direct chats for `user` with new users, all newer than any chat it has."""
    conn = await asyncpg.connect(embedded.database_url)
    try:
        async with conn.transaction():
            peers = [uuid.uuid4() for _ in range(count)]
            await conn.executemany(
                "insert into auth.users (id, aud, role, email, raw_app_meta_data,"
                " raw_user_meta_data, created_at, updated_at) values ($1, 'authenticated',"
                " 'authenticated', $2, '{}', '{}', now(), now())",
                [(p, f"{p.hex[:12]}@example.test") for p in peers],
            )
            me = uuid.UUID(user.id)
            chats = await conn.fetch(
                "insert into public.chats (kind, direct_key, last_message_at)"
                " select 'direct', k, now() from unnest($1::text[]) as k returning id",
                [f"{min(str(me), str(p))}:{max(str(me), str(p))}" for p in peers],
            )
            await conn.executemany(
                "insert into public.chat_members (chat_id, user_id) values ($1, $2), ($1, $3)",
                [(c["id"], me, p) for c, p in zip(chats, peers, strict=True)],
            )
    finally:
        await conn.close()


async def test_every_chat_is_listed_and_has_its_start_point(
    gateway: Gateway, embedded: EmbeddedStack, alice: User, bob: User
) -> None:
    await rest_send(gateway, bob, alice, "one")
    await rest_send(gateway, bob, alice, "two")
    await give_chats(embedded, alice, MAX_ROWS)  # the chat with bob is now the oldest
    status, answer = await api(gateway, "GET", "/api/chats", token=alice.token)
    assert status == 200
    assert len(answer["chats"]) == MAX_ROWS + 1
    assert answer["chats"][-1]["peer_id"] == bob.id
    async with connect(gateway, "/ws", token=alice.token) as a:
        await rest_send(gateway, bob, alice, "three")
        assert [m["seq"] for m in await a.messages(1)] == [3]
        await a.nothing("message")
