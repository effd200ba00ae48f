"""The RPCs the gateway calls: send in one round trip, list chats, read-receipt fan-out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.db_helpers import acting_as, committed_as, create_user, send, start_direct_chat


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(any_database_url)
    yield conn
    await conn.close()


async def send_direct(
    db: asyncpg.Connection, me: str, peer: str, body: str, client_msg_id: str | None = None
) -> dict[str, Any]:
    async with committed_as(db, me) as conn:
        raw = await conn.fetchval(
            "select public.send_direct_message($1, $2, $3)", peer, body, client_msg_id
        )
    result: dict[str, Any] = json.loads(raw)
    return result


async def test_sending_to_a_peer_creates_the_chat_and_returns_the_stored_message(
    db: asyncpg.Connection,
) -> None:
    a, b = await create_user(db), await create_user(db)
    result = await send_direct(db, a, b, "hello", "c1")
    message = result["message"]
    assert result["created"] is True
    assert (message["seq"], message["sender_id"], message["receiver_id"]) == (1, a, b)
    assert (message["body"], message["client_msg_id"]) == ("hello", "c1")
    assert message["chat_id"] == await start_direct_chat(db, b, a)
    assert message["created_at"].endswith("+00:00")


async def test_resending_a_client_msg_id_returns_the_original(db: asyncpg.Connection) -> None:
    a, b = await create_user(db), await create_user(db)
    first = await send_direct(db, a, b, "hello", "c1")
    again = await send_direct(db, a, b, "hello (retry)", "c1")
    assert again["created"] is False
    assert again["message"] == first["message"]
    assert await db.fetchval("select count(*) from public.messages") == 1


async def test_a_client_msg_id_reused_for_another_chat_is_a_conflict(
    db: asyncpg.Connection,
) -> None:
    a, b, c = await create_user(db), await create_user(db), await create_user(db)
    await send_direct(db, a, b, "to b", "c1")
    with pytest.raises(asyncpg.PostgresError) as err:
        await send_direct(db, a, c, "to c", "c1")
    assert err.value.sqlstate == "PT409"


async def test_messages_without_client_msg_id_are_never_deduplicated(
    db: asyncpg.Connection,
) -> None:
    a, b = await create_user(db), await create_user(db)
    one = await send_direct(db, a, b, "same")
    two = await send_direct(db, a, b, "same")
    assert (one["message"]["seq"], two["message"]["seq"]) == (1, 2)


async def test_chat_list_is_newest_first_with_peer_and_unread_count(
    db: asyncpg.Connection,
) -> None:
    a, b, c = await create_user(db), await create_user(db), await create_user(db)
    ab = await start_direct_chat(db, a, b)
    ac = await start_direct_chat(db, a, c)
    await send(db, b, ab, "b1")
    await send(db, b, ab, "b2")
    await send(db, a, ab, "a1")
    await send(db, c, ac, "c1")  # newest
    async with acting_as(db, a) as conn:
        rows = json.loads(await conn.fetchval("select public.list_my_chats()"))
    assert [(str(r["chat_id"]), str(r["peer_id"])) for r in rows] == [(ac, c), (ab, b)]
    assert [r["unread_count"] for r in rows] == [1, 2]  # a's own message is not unread
    assert [r["last_seq"] for r in rows] == [1, 3]
    assert rows[1]["last_message_text"] == "a1"
    async with acting_as(db, c) as conn:
        only = json.loads(await conn.fetchval("select public.list_my_chats()"))
    assert [r["chat_id"] for r in only] == [ac]


async def test_reading_clears_unread_and_is_broadcast_to_every_member(
    db: asyncpg.Connection,
) -> None:
    a, b = await create_user(db), await create_user(db)
    ab = await start_direct_chat(db, a, b)
    await send(db, a, ab, "one")
    await send(db, a, ab, "two")
    await db.execute("delete from realtime.messages")
    async with committed_as(db, b) as conn:
        await conn.execute(
            "update public.chat_members set last_read_seq = 2 where chat_id = $1 and user_id = $2",
            ab,
            b,
        )
    rows = await db.fetch("select topic, event, payload from realtime.messages order by topic")
    gateway_topic = await db.fetchval("select chat_private.delivery_topic($1)", ab)
    assert sorted(r["topic"] for r in rows) == sorted([gateway_topic, f"user:{a}", f"user:{b}"])
    for row in rows:
        assert row["event"] == "read"
        expected = {"chat_id": ab, "user_id": b, "seq": 2, "id": None}
        if row["topic"] == gateway_topic:  # gateways route it by its members
            expected["member_ids"] = sorted([a, b])
        assert json.loads(row["payload"]) | {"id": None} == expected
    async with acting_as(db, b) as conn:
        assert (
            await conn.fetchval("select (public.list_my_chats() -> 0 -> 'unread_count')::int") == 0
        )


async def test_an_unchanged_read_marker_broadcasts_nothing(db: asyncpg.Connection) -> None:
    a, b = await create_user(db), await create_user(db)
    ab = await start_direct_chat(db, a, b)
    async with committed_as(db, b) as conn:
        await conn.execute(
            "update public.chat_members set last_read_seq = 5 where chat_id = $1 and user_id = $2",
            ab,
            b,
        )  # clamped to last_seq = 0: unchanged
    assert await db.fetchval("select count(*) from realtime.messages") == 0


async def test_anyone_signed_in_may_watch_online_users_but_not_track(
    db: asyncpg.Connection,
) -> None:
    # Under delivery.presence_visibility = "everyone" (the default, "chats", is in
    # tests/js/presence_consent.test.mjs).
    await db.execute("update chat_private.presence_settings set visibility = 'everyone'")
    a = await create_user(db)
    async with db.transaction():
        probe = await db.fetchval(
            "insert into realtime.messages (topic, extension, private)"
            " values ('online-users', 'presence', true) returning id"
        )
        async with acting_as(db, a, topic="online-users") as conn:
            seen = await conn.fetchval(
                "select count(*) from realtime.messages where id = $1", probe
            )
        await db.execute("delete from realtime.messages where id = $1", probe)
    assert seen == 1
    async with acting_as(db, a, topic="online-users") as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "insert into realtime.messages (topic, extension, private)"
                " values ('online-users', 'presence', true)"
            )
