"""A refused write tells the writer nothing: inserting into `messages` through the Data
API gets one and the same answer whether the chat exists or not, whoever is in it, and
whichever client_msg_id keys other users have used.

The seq trigger runs before RLS's WITH CHECK (PostgreSQL applies row policies after
BEFORE triggers), so it refuses first, with RLS's own error: SQLSTATE 42501 and
PostgreSQL's message, which PostgREST answers 403 for a signed-in role (PostgREST
`Error.hs`, 42501 → 403 when authenticated).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.conftest import EmbeddedStack
from tests.rest_helpers import Reply, User, create_user, raw, run_sql

RLS_REFUSAL = {
    "code": "42501",
    "details": None,
    "hint": None,
    "message": 'new row violates row-level security policy for table "messages"',
}


async def insert(embedded: EmbeddedStack, as_user: User, row: dict[str, Any]) -> Reply:
    return await raw(
        embedded,
        "POST",
        "/messages",
        token=as_user.token,
        body=json.dumps({"body": "probe", **row}),
        headers={"Prefer": "return=representation"},
    )


async def chat_of(embedded: EmbeddedStack, a: User, b: User) -> str:
    reply = await raw(
        embedded,
        "POST",
        "/rpc/send_direct_message",
        token=a.token,
        body=json.dumps({"peer_id": b.id, "body": "hello", "client_msg_id": "secret-key"}),
    )
    assert reply.status == 200, reply.text
    chat_id: str = reply.json()["message"]["chat_id"]
    return chat_id


async def test_no_oracle_on_another_users_client_msg_id(embedded: EmbeddedStack) -> None:
    alice, bob = await create_user(embedded, "alice"), await create_user(embedded, "bob")
    mallory = await create_user(embedded, "mallory")
    ab = await chat_of(embedded, alice, bob)
    used = await insert(
        embedded, mallory, {"chat_id": ab, "sender_id": alice.id, "client_msg_id": "secret-key"}
    )
    unused = await insert(
        embedded, mallory, {"chat_id": ab, "sender_id": alice.id, "client_msg_id": "never-used"}
    )
    assert (used.status, used.json()) == (unused.status, unused.json()) == (403, RLS_REFUSAL)
    # Keys are the sender's own: Mallory's use of Alice's key neither conflicts nor shows.
    mine = await chat_of(embedded, mallory, alice)
    rows = await run_sql(
        embedded, "select chat_id::text from public.messages where client_msg_id = $1", "secret-key"
    )
    assert sorted(r["chat_id"] for r in rows) == sorted([ab, mine])


async def test_no_oracle_on_who_is_in_a_chat_or_whether_it_exists(
    embedded: EmbeddedStack,
) -> None:
    alice, bob = await create_user(embedded, "alice"), await create_user(embedded, "bob")
    carol, mallory = await create_user(embedded, "carol"), await create_user(embedded, "mallory")
    ab = await chat_of(embedded, alice, bob)
    answers = [
        await insert(embedded, mallory, {"chat_id": ab, "sender_id": bob.id}),  # a member
        await insert(embedded, mallory, {"chat_id": ab, "sender_id": carol.id}),  # not one
        await insert(embedded, mallory, {"chat_id": ab}),  # herself, into a chat not hers
        await insert(embedded, mallory, {"chat_id": str(uuid.uuid4())}),  # no such chat
        await insert(embedded, mallory, {"chat_id": str(uuid.uuid4()), "sender_id": alice.id}),
    ]
    assert [(a.status, a.json()) for a in answers] == [(403, RLS_REFUSAL)] * len(answers)
    rows = await run_sql(embedded, "select last_seq from public.chats where id = $1", ab)
    assert rows[0]["last_seq"] == 1
