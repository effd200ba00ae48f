"""WalStream against a real PostgreSQL (18 from the wheel, and Debian's 15 when present):
committed changes arrive whole, once, in commit order, with PostgreSQL's text values."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.embedded.wal.stream import WalStream, WalStreamError
from tests.db_helpers import create_user, send, start_direct_chat
from tests.wal_helpers import Feed, only_change, publish_table, rows, running_stream, slot_names


def item(
    id_: int, name: str | None = None, qty: str | None = None, tags: str | None = None
) -> dict[str, str | None]:
    """An items row as the stream reports it: every value as text."""
    return {"id": str(id_), "name": name, "qty": qty, "tags": tags}


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(any_database_url)
    await publish_table(conn, "items", "id int primary key, name text, qty int, tags text[]")
    yield conn
    await conn.close()


@pytest.fixture
async def feed(any_database_url: str, db: asyncpg.Connection) -> AsyncIterator[Feed]:
    async with running_stream(any_database_url) as feed:
        yield feed


async def test_inserted_updated_and_deleted_rows_arrive_with_kinds_and_text_values(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("insert into items values (1, 'pen', 3, '{a,\"b c\"}')")
    await db.execute("update items set qty = null where id = 1")
    await db.execute("delete from items where id = 1")

    insert, update, delete = [only_change(t) for t in await feed.take(3)]
    assert (insert.kind, insert.schema, insert.table) == ("INSERT", "public", "items")
    assert insert.new == {"id": "1", "name": "pen", "qty": "3", "tags": '{a,"b c"}'}
    assert insert.old is None
    assert [(c.name, c.type_name, c.is_key) for c in insert.columns] == [
        ("id", "int4", True),
        ("name", "text", False),
        ("qty", "int4", False),
        ("tags", "_text", False),
    ]
    assert update.kind == "UPDATE"
    assert update.new == item(1, "pen", None, '{a,"b c"}')
    assert update.old == {"id": "1"}  # default replica identity: the key
    assert delete.kind == "DELETE"
    assert (delete.new, delete.old) == (None, {"id": "1"})


async def test_a_transaction_reports_its_xid_commit_time_and_lsns(
    db: asyncpg.Connection, feed: Feed
) -> None:
    async with db.transaction():
        await db.execute("insert into items (id) values (1)")
        xid = await db.fetchval("select txid_current() % 4294967296")
    before = datetime.now(UTC)
    await db.execute("insert into items (id) values (2)")

    first, second = await feed.take(2)
    assert first.xid == xid
    assert first.commit_lsn < first.end_lsn <= second.commit_lsn < second.end_lsn
    assert first.commit_time.tzinfo is not None
    assert abs(second.commit_time - before) < timedelta(seconds=5)


async def test_a_realtime_send_arrives_as_a_row_of_realtime_messages(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("select realtime.send('{\"hello\": 1}', 'greet', 'room:1', false)")

    change = only_change(await feed.next())
    assert (change.kind, change.schema, change.table) == ("INSERT", "realtime", "messages")
    assert change.new is not None
    assert (change.new["topic"], change.new["event"], change.new["private"]) == (
        "room:1",
        "greet",
        "f",
    )
    assert change.new["extension"] == "broadcast"
    assert change.new["binary_payload"] is None
    payload = json.loads(change.new["payload"] or "")
    assert payload == {"hello": 1, "id": change.new["id"]}
    assert {c.name for c in change.columns if c.is_key} == {"id", "inserted_at"}


async def test_a_chat_message_arrives_with_its_broadcasts_in_one_transaction(
    db: asyncpg.Connection, feed: Feed
) -> None:
    alice, bob = await create_user(db), await create_user(db)
    chat_id = await start_direct_chat(db, alice, bob)  # tables outside the publications
    await send(db, alice, chat_id, "hi bob")

    transaction = await feed.next()
    kinds = [(c.kind, c.schema, c.table) for c in transaction.changes]
    assert kinds == [
        ("INSERT", "public", "messages"),
        ("INSERT", "realtime", "messages"),
        ("INSERT", "realtime", "messages"),
        ("INSERT", "realtime", "messages"),
    ]
    message, *broadcasts = transaction.changes
    assert message.new is not None and message.new["body"] == "hi bob"
    topics = {b.new["topic"] for b in broadcasts if b.new is not None}
    gateway_topic = await db.fetchval("select chat_private.delivery_topic($1)", chat_id)
    assert topics == {gateway_topic, f"user:{alice}", f"user:{bob}"}


async def test_transactions_arrive_in_commit_order_not_start_order(
    any_database_url: str, db: asyncpg.Connection, feed: Feed
) -> None:
    conns = [await asyncpg.connect(any_database_url) for _ in range(3)]
    try:
        transactions = [conn.transaction() for conn in conns]
        for tx in transactions:
            await tx.start()
        for round_ in range(3):  # interleave the writes of the three transactions
            for i, conn in enumerate(conns):
                await conn.execute(
                    "insert into items (id, name) values ($1, $2)", 10 * i + round_, f"tx{i}"
                )
        for i in (2, 0, 1):
            await transactions[i].commit()
    finally:
        for conn in conns:
            await conn.close()

    arrived = await feed.take(3)
    assert [[c.new["name"] for c in t.changes if c.new] for t in arrived] == [
        ["tx2"] * 3,
        ["tx0"] * 3,
        ["tx1"] * 3,
    ]
    assert [t.commit_lsn for t in arrived] == sorted(t.commit_lsn for t in arrived)


async def test_a_rolled_back_transaction_never_arrives(db: asyncpg.Connection, feed: Feed) -> None:
    tx = db.transaction()
    await tx.start()
    await db.execute("insert into items (id, name) values (1, 'doomed')")
    await tx.rollback()
    await db.execute("insert into items (id, name) values (2, 'kept')")

    assert rows(await feed.next()) == [("INSERT", "items", item(2, "kept"))]


async def test_a_transaction_with_many_rows_arrives_whole_and_in_order(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute(
        "insert into items (id, name) select i, 'n' || i from generate_series(1, 5000) i"
    )

    transaction = await feed.next(deadline=60)
    assert len(transaction.changes) == 5000
    assert [c.new["id"] for c in transaction.changes if c.new] == [str(i) for i in range(1, 5001)]


async def test_replica_identity_full_sends_the_whole_old_row(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("alter table items replica identity full")
    await db.execute("insert into items values (1, 'pen', 3, null)")
    await db.execute("update items set qty = 4 where id = 1")
    await db.execute("delete from items where id = 1")

    _, update, delete = [only_change(t) for t in await feed.take(3)]
    full_old = item(1, "pen", "3")
    assert (update.old, update.new) == (full_old, {**full_old, "qty": "4"})
    assert delete.old == {**full_old, "qty": "4"}
    assert [c.is_key for c in delete.columns] == [True, False, False, False]


async def test_an_update_that_changes_the_key_reports_the_old_key(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("insert into items (id, name) values (1, 'pen')")
    await db.execute("update items set id = 2 where id = 1")

    _, update = [only_change(t) for t in await feed.take(2)]
    assert update.old == {"id": "1"}
    assert update.new is not None and update.new["id"] == "2"


async def test_a_large_value_an_update_left_alone_is_reported_as_unchanged_toast(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await publish_table(db, "docs", "id int primary key, title text, body text")
    await db.execute("alter table docs alter column body set storage external")  # no compression
    await db.execute("insert into docs values (1, 'a', repeat('x', 100000))")
    await db.execute("update docs set title = 'b' where id = 1")

    insert, update = [only_change(t) for t in await feed.take(2)]
    assert insert.new is not None and len(insert.new["body"] or "") == 100000
    assert update.unchanged_toast == frozenset({"body"})
    assert update.new == {"id": "1", "title": "b"}


async def test_a_table_added_to_the_publication_while_streaming_is_streamed(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("create table public.late (id int primary key)")
    await db.execute("insert into late values (1)")  # not published yet
    await db.execute("alter publication supabase_realtime add table public.late")
    await db.execute("insert into late values (2)")

    assert rows(await feed.next()) == [("INSERT", "late", {"id": "2"})]


async def test_tables_outside_the_publications_and_truncates_are_skipped(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await db.execute("create table public.private_notes (id int primary key)")
    await db.execute("insert into private_notes values (1)")
    await db.execute("insert into items (id) values (1)")
    await db.execute("truncate items")
    await db.execute("insert into items (id) values (2)")

    first, second = await feed.take(2)
    assert [c.new for c in first.changes] == [item(1)]
    assert [c.new for c in second.changes] == [item(2)]
    await feed.nothing()


async def test_a_slow_consumer_gets_everything_in_order_through_a_small_queue(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    async with running_stream(any_database_url, max_pending=2) as feed:
        for i in range(40):
            await db.execute("insert into items (id) values ($1)", i)
        arrived = await feed.take(40)
    assert [only_change(t).new for t in arrived] == [item(i) for i in range(40)]


async def test_stop_drops_the_slot_and_ends_iteration(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    stream = WalStream(any_database_url, ["supabase_realtime"])
    await stream.start()
    assert stream.connected
    assert stream.slot_name in await slot_names(db)

    await stream.stop()

    assert not stream.connected
    assert stream.slot_name not in await slot_names(db)
    received = [t async for t in stream]
    assert received == []
    await stream.stop()  # a second stop is harmless


async def test_start_refuses_a_publication_that_does_not_exist_and_leaves_no_slot(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    stream = WalStream(any_database_url, ["supabase_realtime", "no_such_publication"])
    with pytest.raises(WalStreamError, match="no_such_publication"):
        await stream.start()
    assert await slot_names(db) == set()


async def test_waiting_with_a_deadline_does_not_break_the_iteration(
    db: asyncpg.Connection, feed: Feed
) -> None:
    await feed.nothing()
    await db.execute("insert into items (id) values (1)")
    assert only_change(await feed.next()).new == item(1)


async def test_two_streams_on_one_database_each_get_every_change(
    any_database_url: str, db: asyncpg.Connection
) -> None:
    async with (
        running_stream(any_database_url) as first,
        running_stream(any_database_url) as second,
    ):
        assert len(await slot_names(db)) == 2
        await db.execute("insert into items (id) values (1)")
        a, b = await asyncio.gather(first.next(), second.next())
    assert rows(a) == rows(b)
