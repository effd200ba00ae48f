"""The chat schema on a real PostgreSQL (18 from the wheel, and Debian's 15 when present):
RLS, gapless seq under concurrency, idempotent sends, race-free direct chats, and the
Realtime rows the triggers write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from tests.db_helpers import acting_as, create_user, send, start_direct_chat


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(any_database_url)
    yield conn
    await conn.close()


@dataclass
class Trio:
    a: str
    b: str
    c: str
    ab: str  # the A-B chat


@pytest.fixture
async def trio(db: asyncpg.Connection) -> Trio:
    a, b, c = [await create_user(db) for _ in range(3)]
    return Trio(a, b, c, await start_direct_chat(db, a, b))


# Direct chats ------------------------------------------------------------------------


async def test_a_direct_chat_is_the_same_whichever_side_starts_it(
    db: asyncpg.Connection, trio: Trio
) -> None:
    assert await start_direct_chat(db, trio.b, trio.a) == trio.ab
    members = await db.fetch(
        "select user_id::text from public.chat_members where chat_id = $1 order by user_id",
        trio.ab,
    )
    assert sorted(r["user_id"] for r in members) == sorted([trio.a, trio.b])


async def test_racing_starts_of_one_direct_chat_create_it_once(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    a, b = await create_user(db), await create_user(db)
    conns = [await asyncpg.connect(any_database_url) for _ in range(20)]
    try:
        ids = await asyncio.gather(
            *(start_direct_chat(conn, *(a, b) if i % 2 else (b, a)) for i, conn in enumerate(conns))
        )
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    assert len(set(ids)) == 1
    assert await db.fetchval("select count(*) from public.chats") == 1
    assert await db.fetchval("select count(*) from public.chat_members") == 2


async def test_a_direct_chat_needs_a_real_other_user(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.a) as conn:
        with pytest.raises(asyncpg.PostgresError) as self_chat:
            await conn.fetchval("select public.get_or_create_direct_chat($1)", trio.a)
    assert self_chat.value.sqlstate == "PT400"
    async with acting_as(db, trio.a) as conn:
        with pytest.raises(asyncpg.PostgresError) as ghost:
            await conn.fetchval(
                "select public.get_or_create_direct_chat('00000000-0000-0000-0000-000000000001')"
            )
    assert ghost.value.sqlstate == "PT404"


async def test_anonymous_callers_cannot_start_chats(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, None) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("select public.get_or_create_direct_chat($1)", trio.a)


# Row-level security ---------------------------------------------------------------------


async def test_an_outsider_cannot_read_a_chat_or_its_messages(
    db: asyncpg.Connection, trio: Trio
) -> None:
    await send(db, trio.a, trio.ab, "hello b")
    async with acting_as(db, trio.c) as conn:
        assert await conn.fetchval("select count(*) from public.chats") == 0
        assert await conn.fetchval("select count(*) from public.chat_members") == 0
        assert await conn.fetchval("select count(*) from public.messages") == 0
    async with acting_as(db, trio.b) as conn:
        assert await conn.fetchval("select count(*) from public.messages") == 1
        assert await conn.fetchval("select count(*) from public.chat_members") == 2


async def test_an_outsider_cannot_write_into_a_chat(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.c) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "insert into public.messages (chat_id, sender_id, body) values ($1, $2, 'x')",
                trio.ab,
                trio.c,
            )
    assert await db.fetchval("select last_seq from public.chats where id = $1", trio.ab) == 0


async def test_nobody_can_send_as_someone_else(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.a) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "insert into public.messages (chat_id, sender_id, body) values ($1, $2, 'forged')",
                trio.ab,
                trio.b,
            )
    assert await db.fetchval("select count(*) from public.messages") == 0


async def test_the_sender_defaults_to_the_caller(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.a) as conn:
        sender = await conn.fetchval(
            "insert into public.messages (chat_id, body) values ($1, 'hi')"
            " returning sender_id::text",
            trio.ab,
        )
    assert sender == trio.a


async def test_clients_cannot_choose_seq_or_timestamps(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.a) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "insert into public.messages (chat_id, body, seq) values ($1, 'x', 99)", trio.ab
            )
    async with acting_as(db, trio.a) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("update public.chats set last_seq = 99 where id = $1", trio.ab)


async def test_members_move_only_their_own_read_marker_and_only_forward(
    db: asyncpg.Connection, trio: Trio
) -> None:
    for body in ("one", "two", "three"):
        await send(db, trio.a, trio.ab, body)
    marker = "update public.chat_members set last_read_seq = $2 where chat_id = $1 and user_id = $3"
    async with acting_as(db, trio.c) as conn:
        assert await conn.execute(marker, trio.ab, 3, trio.b) == "UPDATE 0"
    async with acting_as(db, trio.a) as conn:
        assert await conn.execute(marker, trio.ab, 3, trio.b) == "UPDATE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("update public.chat_members set joined_at = now()")
    read = "select last_read_seq from public.chat_members where chat_id = $1 and user_id = $2"
    async with acting_as(db, trio.b) as conn:
        await conn.execute(marker, trio.ab, 2, trio.b)
        assert await conn.fetchval(read, trio.ab, trio.b) == 2
        await conn.execute(marker, trio.ab, 1, trio.b)  # backwards: ignored
        assert await conn.fetchval(read, trio.ab, trio.b) == 2
        await conn.execute(marker, trio.ab, 50, trio.b)  # past the end: clamped
        assert await conn.fetchval(read, trio.ab, trio.b) == 3


async def test_anonymous_users_see_nothing(db: asyncpg.Connection, trio: Trio) -> None:
    await send(db, trio.a, trio.ab, "private")
    for table in ("chats", "chat_members", "messages"):
        async with acting_as(db, None) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(f"select count(*) from public.{table}")


async def test_rls_is_enabled_on_every_table(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "select c.relname, c.relrowsecurity from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relkind in ('r', 'p')"
    )
    assert rows and all(r["relrowsecurity"] for r in rows), rows


# seq ----------------------------------------------------------------------------------


async def test_seq_is_gapless_under_fifty_concurrent_senders(
    any_database_url: str, db: asyncpg.Connection, trio: Trio
) -> None:
    per_sender = 10
    conns = [await asyncpg.connect(any_database_url) for _ in range(50)]

    async def burst(i: int, conn: asyncpg.Connection) -> None:
        for n in range(per_sender):
            await send(conn, trio.a if i % 2 else trio.b, trio.ab, f"{i}-{n}")

    try:
        await asyncio.gather(*(burst(i, conn) for i, conn in enumerate(conns)))
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    total = 50 * per_sender
    seqs = [
        r["seq"]
        for r in await db.fetch(
            "select seq from public.messages where chat_id = $1 order by seq", trio.ab
        )
    ]
    assert seqs == list(range(1, total + 1))
    chat = await db.fetchrow(
        "select last_seq, last_message_text from public.chats where id = $1", trio.ab
    )
    newest = await db.fetchval(
        "select body from public.messages where chat_id = $1 and seq = $2", trio.ab, total
    )
    assert chat["last_seq"] == total
    assert chat["last_message_text"] == newest


async def test_seq_counts_per_chat(db: asyncpg.Connection, trio: Trio) -> None:
    ac = await start_direct_chat(db, trio.a, trio.c)
    await send(db, trio.a, trio.ab, "1")
    await send(db, trio.a, ac, "1")
    row = await send(db, trio.a, trio.ab, "2")
    assert row is not None and row["seq"] == 2


# Idempotency ------------------------------------------------------------------------------


async def test_a_repeated_client_msg_id_stores_the_message_once(
    db: asyncpg.Connection, trio: Trio
) -> None:
    first = await send(db, trio.a, trio.ab, "once", "c-1")
    again = await send(db, trio.a, trio.ab, "once", "c-1")
    assert first is not None and first["seq"] == 1
    assert again is None
    nxt = await send(db, trio.a, trio.ab, "next", "c-2")
    assert nxt is not None and nxt["seq"] == 2  # no gap left by the duplicate
    # 2 messages x (the chat's gateway topic + 2 member topics)
    assert await db.fetchval("select count(*) from realtime.messages") == 6


async def test_a_retry_storm_stores_one_message_and_leaves_no_gap(
    any_database_url: str, db: asyncpg.Connection, trio: Trio
) -> None:
    conns = [await asyncpg.connect(any_database_url) for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(send(conn, trio.a, trio.ab, "storm", "same-id") for conn in conns)
        )
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    assert sum(r is not None for r in results) == 1
    assert await db.fetchval("select count(*) from public.messages") == 1
    follow = await send(db, trio.b, trio.ab, "after")
    assert follow is not None and follow["seq"] == 2


async def test_client_msg_ids_are_per_sender(db: asyncpg.Connection, trio: Trio) -> None:
    assert await send(db, trio.a, trio.ab, "from a", "shared") is not None
    assert await send(db, trio.b, trio.ab, "from b", "shared") is not None


# Realtime wiring -------------------------------------------------------------------------


async def test_every_message_is_broadcast_once_for_gateways_and_to_each_members_topic(
    db: asyncpg.Connection, trio: Trio
) -> None:
    row = await send(db, trio.a, trio.ab, "over the wire", "w-1")
    assert row is not None
    rows = await db.fetch(
        "select topic, event, private, extension, payload from realtime.messages order by topic"
    )
    gateway_topic = await db.fetchval("select chat_private.delivery_topic($1)", trio.ab)
    topics = await db.fetch("select * from public.gateway_delivery_topics()")
    assert gateway_topic in [t[0] for t in topics]
    assert sorted(r["topic"] for r in rows) == sorted(
        [gateway_topic, f"user:{trio.a}", f"user:{trio.b}"]
    )
    for r in rows:
        assert (r["event"], r["private"], r["extension"]) == ("message", True, "broadcast")
        payload = json.loads(r["payload"])
        assert payload["seq"] == 1
        assert payload["body"] == "over the wire"
        assert payload["chat_id"] == trio.ab
        assert payload["sender_id"] == trio.a
        assert payload["client_msg_id"] == "w-1"
        assert payload["id"] == row["id"]
        assert sorted(payload["member_ids"]) == sorted([trio.a, trio.b])
    outsider = await db.fetchval(
        "select count(*) from realtime.messages where topic = $1", f"user:{trio.c}"
    )
    assert outsider == 0


async def test_a_rolled_back_message_broadcasts_nothing(db: asyncpg.Connection, trio: Trio) -> None:
    async with acting_as(db, trio.a) as conn:  # rolled back at the end of the block
        await conn.execute("insert into public.messages (chat_id, body) values ($1, 'x')", trio.ab)
    assert await db.fetchval("select count(*) from realtime.messages") == 0
    assert await db.fetchval("select last_seq from public.chats where id = $1", trio.ab) == 0


async def probe_topic(db: asyncpg.Connection, user_id: str, topic: str) -> bool:
    """Supabase Realtime's join check: insert a probe as admin, read it back as the user."""
    async with db.transaction():
        probe = await db.fetchval(
            "insert into realtime.messages (topic, extension, private)"
            " values ($1, 'broadcast', true)"
            " returning id",
            topic,
        )
        visible = False
        async with acting_as(db, user_id, topic=topic) as conn:
            visible = bool(
                await conn.fetchval("select count(*) from realtime.messages where id = $1", probe)
            )
        await db.execute("delete from realtime.messages where id = $1", probe)
        return visible


async def test_a_user_may_join_only_their_own_private_topic(
    db: asyncpg.Connection, trio: Trio
) -> None:
    assert await probe_topic(db, trio.a, f"user:{trio.a}")
    assert not await probe_topic(db, trio.c, f"user:{trio.a}")
    assert not await probe_topic(db, trio.a, f"user:{trio.b}")


async def test_users_cannot_broadcast_into_private_user_topics(
    db: asyncpg.Connection, trio: Trio
) -> None:
    for topic in (f"user:{trio.a}", f"user:{trio.b}"):
        async with acting_as(db, trio.a, topic=topic) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "insert into realtime.messages (topic, extension, private, event, payload)"
                    " values ($1, 'broadcast', true, 'message', '{}')",
                    topic,
                )


async def test_messages_are_in_the_realtime_publication(db: asyncpg.Connection) -> None:
    tables = await db.fetch(
        "select schemaname, tablename from pg_publication_tables"
        " where pubname = 'supabase_realtime'"
    )
    assert [(r["schemaname"], r["tablename"]) for r in tables] == [("public", "messages")]


async def test_every_policy_column_is_indexed(db: asyncpg.Connection) -> None:
    def leading(table: str) -> str:
        return (
            "select array_agg(a.attname::text) from pg_index i"
            " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
            f" where i.indrelid = '{table}'::regclass"
        )

    assert "user_id" in await db.fetchval(leading("public.chat_members"))
    assert "chat_id" in await db.fetchval(leading("public.chat_members"))
    assert "chat_id" in await db.fetchval(leading("public.messages"))
    assert "sender_id" in await db.fetchval(leading("public.messages"))


# Gateway start points ----------------------------------------------------------------------


async def test_start_points_give_each_user_their_own_chats_and_only_to_service_role(
    db: asyncpg.Connection, trio: Trio
) -> None:
    ac = await start_direct_chat(db, trio.a, trio.c)
    for text in ("one", "two"):
        assert await send(db, trio.a, trio.ab, text, None) is not None
    loner = await create_user(db)
    async with db.transaction():
        await db.execute("set local role service_role")
        answer = await db.fetchval(
            "select public.gateway_start_points($1::uuid[])", [trio.b, trio.c, loner]
        )
    rows = sorted(json.loads(answer))
    assert rows == sorted([[trio.b, trio.ab, 2, trio.a], [trio.c, ac, 0, trio.a]])
    for role in ("authenticated", "anon"):
        async with acting_as(db, trio.b if role == "authenticated" else None) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval("select public.gateway_start_points($1::uuid[])", [trio.a])
