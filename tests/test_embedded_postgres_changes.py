"""Postgres Changes through realtime-py: INSERT/UPDATE/DELETE events with Supabase's payload,
binding ids, event filters, column filters, `select`, and the payload cap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.postgres_changes_helpers import (
    COMMIT_TIMESTAMP,
    TODOS,
    TODOS_COLUMNS,
    Event,
    execute,
    realtime,
    subscriber,
)
from tests.realtime_helpers import RealtimeStack, next_item, nothing_arrives


@pytest.fixture
async def stack(stack: RealtimeStack) -> RealtimeStack:
    """The shared stack, with the tables these tests subscribe to."""
    await execute(stack, TODOS)
    return stack


def _without_timestamp(payload: Any) -> dict[str, Any]:
    data = dict(payload["data"])
    assert COMMIT_TIMESTAMP.fullmatch(data.pop("commit_timestamp"))
    return {"ids": payload["ids"], "data": data}


async def test_insert_update_delete_arrive_with_supabase_payload(stack: RealtimeStack) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(rt, "todos", {"table": "todos"})
        [binding_id] = sub.binding_ids()
        assert binding_id

        await execute(
            stack,
            "insert into todos (id, title, score, meta, due, tags) values"
            " (1, 'write tests', 2.50, '{\"b\": [1, true], \"a\": null}',"
            " '2026-11-25 19:40:00.123+00', '{x,\"y z\"}')",
        )
        inserted = await next_item(sub.events)
        assert _without_timestamp(inserted) == {
            "ids": [binding_id],
            "data": {
                "schema": "public",
                "table": "todos",
                "type": "INSERT",
                "errors": None,
                "columns": TODOS_COLUMNS,
                "record": {
                    "id": 1,
                    "title": "write tests",
                    "done": False,
                    "score": 2.5,
                    "meta": {"a": None, "b": [1, True]},
                    "due": "2026-11-25T19:40:00.123+00:00",
                    "tags": ["x", "y z"],
                },
            },
        }

        await execute(stack, "update todos set done = true, title = 'tested' where id = 1")
        updated = (await next_item(sub.events))["data"]
        assert updated["type"] == "UPDATE"
        assert updated["old_record"] == {"id": 1}  # default replica identity: the key only
        assert (updated["record"]["done"], updated["record"]["title"]) == (True, "tested")

        await execute(stack, "delete from todos where id = 1")
        deleted = await next_item(sub.events)
        assert _without_timestamp(deleted) == {
            "ids": [binding_id],
            "data": {
                "schema": "public",
                "table": "todos",
                "type": "DELETE",
                "errors": None,
                "columns": TODOS_COLUMNS,
                "old_record": {"id": 1},
            },
        }
        assert await nothing_arrives(sub.events)


async def test_each_binding_gets_only_its_event_with_its_own_id(stack: RealtimeStack) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(
            rt,
            "todos",
            {"event": Event.Insert, "table": "todos"},
            {"event": Event.Update, "table": "todos"},
            {"event": Event.Delete, "schema": "public", "table": "todos"},
        )
        inserts, updates, deletes = sub.queues
        insert_id, update_id, delete_id = sub.binding_ids()

        await execute(stack, "insert into todos (id, title) values (7, 'a')")
        await execute(stack, "update todos set title = 'b' where id = 7")
        await execute(stack, "delete from todos where id = 7")

        assert (await next_item(inserts))["ids"] == [insert_id]
        assert (await next_item(updates))["ids"] == [update_id]
        assert (await next_item(deletes))["ids"] == [delete_id]
        for queue in sub.queues:
            assert await nothing_arrives(queue)


async def test_a_change_matching_several_bindings_lists_their_ids(stack: RealtimeStack) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(
            rt, "todos", {"table": "todos"}, {"event": Event.Insert, "schema": "public"}
        )
        table_id, schema_id = sub.binding_ids()
        await execute(stack, "insert into todos (title) values ('both')")
        payload = await next_item(sub.queues[0])
        # Supabase walks the channel's bindings in order, prepending each match.
        assert payload["ids"] == [schema_id, table_id]
        assert await next_item(sub.queues[1]) == payload


FILTERS: dict[str, list[int]] = {
    "score=eq.3": [3],
    "score=neq.3": [1, 2, 4, 5],
    "score=lt.3": [1, 2],
    "score=lte.3": [1, 2, 3],
    "score=gt.3": [4, 5],
    "score=gte.3": [3, 4, 5],
    "score=in.(1,4,5)": [1, 4, 5],
    "id=in.(2,3)": [2, 3],
    "title=eq.three": [3],
    'title=in.(one,"five")': [1, 5],
    "title=neq.two": [1, 3, 4, 5],
    "title=lt.four": [5],  # 'five' < 'four' < 'one': text order, decided by the collation
    "title=like.f%": [4, 5],
    "title=ilike.F%E": [5],
    "title=match.^t": [2, 3],
    "done=eq.true": [2, 4],
    "done=is.false": [1, 3, 5],
    "meta=is.null": [1, 2, 3, 4],
    "meta=not.is.null": [5],
    "score=gt.1,score=lt.4": [2, 3],
    "score=not.in.(1,2)": [3, 4, 5],
    "score=not.eq.3": [1, 2, 4, 5],
    'title=eq."three"': [3],
    'title=not.eq."a,b",score=lt.3': [1, 2],  # the comma in quotes is part of the value
    "due=gte.2026-01-03": [3, 4, 5],
}


async def test_filters_select_exactly_the_matching_rows(stack: RealtimeStack) -> None:
    async with realtime(stack) as rt:
        subs = {
            f: await subscriber(
                rt, f"filter-{i}", {"event": Event.Insert, "table": "todos", "filter": f}
            )
            for i, f in enumerate(FILTERS)
        }
        for n, title in enumerate(["one", "two", "three", "four", "five"], 1):
            await execute(
                stack,
                "insert into todos (id, title, score, done, meta, due) select n, $2, n, n % 2 = 0,"
                " case when n = 5 then '{}'::jsonb end,"
                " '2026-01-01'::timestamptz + (n - 1) * interval '1 day' from (select $1::int n) v",
                n,
                title,
            )
        # The last row (5) reaches whoever gets it after the others: once every subscriber
        # that expects it has it, anything else would have arrived too.
        received: dict[str, list[int]] = {f: [] for f in FILTERS}
        for f, sub in subs.items():
            for _ in FILTERS[f]:
                received[f].append((await next_item(sub.events))["data"]["record"]["id"])
        for f, sub in subs.items():
            while not sub.events.empty():
                received[f].append(sub.events.get_nowait()["data"]["record"]["id"])
        assert received == FILTERS
        assert await nothing_arrives(subs["score=eq.3"].events)


async def test_select_narrows_the_record_to_the_key_and_chosen_columns(
    stack: RealtimeStack,
) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(rt, "todos", {"table": "todos", "select": ["title"]})
        await execute(stack, "insert into todos (id, title, score) values (3, 'short', 1)")
        data = (await next_item(sub.events))["data"]
        assert data["columns"] == [
            {"name": "id", "type": "int8"},
            {"name": "title", "type": "text"},
        ]
        assert data["record"] == {"id": 3, "title": "short"}


async def test_an_oversized_row_arrives_with_only_its_small_values_and_a_413(
    stack: RealtimeStack,
) -> None:
    async with realtime(stack) as rt:
        sub = await subscriber(rt, "todos", {"table": "todos"})
        await execute(stack, "insert into todos (id, title) values (9, repeat('x', 1100000))")
        data = (await next_item(sub.events))["data"]
        assert data["errors"] == ["Error 413: Payload Too Large"]
        # Values over 64 bytes and NULLs are left out; the columns list stays whole.
        assert data["record"] == {"id": 9, "done": False}
        assert data["columns"] == TODOS_COLUMNS


async def test_an_unsubscribed_channel_gets_nothing_more(stack: RealtimeStack) -> None:
    async with realtime(stack) as rt:
        leaving = await subscriber(rt, "leaving", {"table": "todos"})
        staying = await subscriber(rt, "staying", {"table": "todos"})
        await leaving.channel.unsubscribe()
        await execute(stack, "insert into todos (title) values ('after')")
        assert (await next_item(staying.events))["data"]["record"]["title"] == "after"
        assert await nothing_arrives(leaving.events)
