"""The pure pgoutput decoder, fed bytes the real server produced: each test writes, then
peeks at its slot with pg_logical_slot_peek_binary_changes and decodes what it got."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.embedded.wal import pgoutput
from gateway.embedded.wal.pgoutput import DecodeError, Toast, decode_message

SLOT = "decoder_test"


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(any_database_url)
    await conn.execute(
        "create type mood as enum ('happy', 'sad');"
        " create table public.things (id int primary key, label text, feeling mood);"
        " create publication decoder_pub for table public.things"
    )
    await conn.execute("select pg_create_logical_replication_slot($1, 'pgoutput')", SLOT)
    yield conn
    await conn.execute("select pg_drop_replication_slot($1)", SLOT)
    await conn.close()


async def peek(conn: asyncpg.Connection, *options: str) -> list[pgoutput.PgOutputMessage]:
    records = await conn.fetch(
        "select data from pg_logical_slot_peek_binary_changes($1, null, null, variadic"
        " array['proto_version', '1', 'publication_names', 'decoder_pub'] || $2::text[])",
        SLOT,
        list(options),
    )
    return [decode_message(r["data"]) for r in records]


async def test_an_insert_decodes_to_begin_relation_type_insert_commit(
    db: asyncpg.Connection,
) -> None:
    before = datetime.now(UTC)
    async with db.transaction():
        await db.execute("insert into things values (1, 'one', 'happy')")
        xid = await db.fetchval("select txid_current() % 4294967296")
    relation_id = await db.fetchval("select 'public.things'::regclass::oid::int8")
    mood_oid = await db.fetchval("select 'mood'::regtype::oid::int8")

    begin, type_, relation, insert, commit = await peek(db)

    assert isinstance(begin, pgoutput.Begin) and begin.xid == xid
    assert isinstance(type_, pgoutput.Type)
    assert (type_.type_oid, type_.schema, type_.name) == (mood_oid, "public", "mood")
    assert isinstance(relation, pgoutput.Relation)
    assert (relation.relation_id, relation.schema, relation.table) == (
        relation_id,
        "public",
        "things",
    )
    assert relation.replica_identity == "d"
    assert [(c.name, c.type_oid, c.in_identity) for c in relation.columns] == [
        ("id", 23, True),
        ("label", 25, False),
        ("feeling", mood_oid, False),
    ]
    assert insert == pgoutput.Insert(relation_id, ("1", "one", "happy"))
    assert isinstance(commit, pgoutput.Commit)
    assert commit.commit_lsn == begin.final_lsn < commit.end_lsn
    assert commit.commit_time == begin.commit_time
    assert abs(commit.commit_time - before) < timedelta(seconds=5)


async def test_updates_and_deletes_carry_the_old_key_or_the_full_old_row(
    db: asyncpg.Connection,
) -> None:
    await db.execute("insert into things values (1, 'one', null)")
    await db.execute("update things set label = 'uno' where id = 1")  # key kept: no old tuple
    await db.execute("update things set id = 2 where id = 1")  # key changed: 'K'
    await db.execute("alter table things replica identity full")
    await db.execute("update things set label = 'dos' where id = 2")  # 'O'
    await db.execute("delete from things where id = 2")

    relation_id = await db.fetchval("select 'public.things'::regclass::oid::int8")
    changes = [m for m in await peek(db) if isinstance(m, (pgoutput.Update, pgoutput.Delete))]

    assert changes == [
        pgoutput.Update(relation_id, None, False, ("1", "uno", None)),
        pgoutput.Update(relation_id, ("1", None, None), False, ("2", "uno", None)),
        pgoutput.Update(relation_id, ("2", "uno", None), True, ("2", "dos", None)),
        pgoutput.Delete(relation_id, ("2", "dos", None), True),
    ]


async def test_an_unchanged_external_value_decodes_as_unchanged_toast(
    db: asyncpg.Connection,
) -> None:
    await db.execute("alter table things alter column label set storage external")
    await db.execute("insert into things values (1, repeat('x', 100000), null)")
    await db.execute("update things set feeling = 'sad' where id = 1")

    update = next(m for m in await peek(db) if isinstance(m, pgoutput.Update))
    assert update.new == ("1", Toast.UNCHANGED, "sad")


async def test_truncate_decodes_with_the_relations_it_emptied(db: asyncpg.Connection) -> None:
    await db.execute("truncate things")
    relation_id = await db.fetchval("select 'public.things'::regclass::oid::int8")

    truncate = next(m for m in await peek(db) if isinstance(m, pgoutput.Truncate))
    assert truncate.relation_ids == (relation_id,)


async def test_a_replicated_transaction_carries_its_origin(db: asyncpg.Connection) -> None:
    name = "upstream_" + uuid.uuid4().hex[:8]  # origins are cluster-wide
    await db.execute("select pg_replication_origin_create($1)", name)
    try:
        async with db.transaction():
            await db.execute("select pg_replication_origin_session_setup($1)", name)
            await db.execute("select pg_replication_origin_xact_setup('0/AB', now())")
            await db.execute("insert into things values (1, 'from afar', null)")
        await db.execute("select pg_replication_origin_session_reset()")

        origin = next(m for m in await peek(db) if isinstance(m, pgoutput.Origin))
    finally:
        await db.execute("select pg_replication_origin_drop($1)", name)
    assert (origin.name, origin.lsn) == (name, 0xAB)


async def test_logical_messages_decode_when_asked_for(db: asyncpg.Connection) -> None:
    # A non-transactional message is not flushed by itself; the commit after it is.
    await db.execute("select pg_logical_emit_message(false, 'gw', '\\x00ff'::bytea)")
    async with db.transaction():
        await db.execute("select pg_logical_emit_message(true, 'gw', 'in tx')")

    messages = [m for m in await peek(db, "messages", "true") if isinstance(m, pgoutput.Message)]
    assert [(m.transactional, m.prefix, m.content) for m in messages] == [
        (False, "gw", b"\x00\xff"),
        (True, "gw", b"in tx"),
    ]


async def test_cut_or_unknown_bytes_are_rejected(db: asyncpg.Connection) -> None:
    await db.execute("insert into things values (1, 'one', 'happy')")
    record = await db.fetchval(
        "select data from pg_logical_slot_peek_binary_changes($1, null, null,"
        " 'proto_version', '1', 'publication_names', 'decoder_pub') where get_byte(data, 0) = 73",
        SLOT,
    )
    insert = bytes(record)
    assert isinstance(decode_message(insert), pgoutput.Insert)
    for broken in (insert[:-1], insert + b"\0", b"", b"Z" + insert[1:]):
        with pytest.raises(DecodeError):
            decode_message(broken)
