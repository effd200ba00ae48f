"""Subscribing to Postgres Changes: the `system` message after the join reply, Supabase's
error messages for refused bindings, no missed rows after SUBSCRIBED, other clients."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from realtime import RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from supabase import AsyncClientOptions, acreate_client

from tests.postgres_changes_helpers import (
    TODOS,
    Event,
    execute,
    raw_join,
    realtime,
    system_frame,
)
from tests.realtime_helpers import (
    RealtimeStack,
    collect,
    join_payload,
    next_item,
    nothing_arrives,
    raw_socket,
    v1,
)


@pytest.fixture
async def stack(stack: RealtimeStack) -> RealtimeStack:
    """The shared stack, with the tables these tests subscribe to."""
    await execute(stack, TODOS)
    return stack


async def test_the_join_reply_comes_first_then_subscribed_then_changes(
    stack: RealtimeStack,
) -> None:
    binding = {"event": "*", "schema": "public", "table": "todos", "filter": "id=eq.1"}
    async with raw_socket(stack.ws_url()) as sock:
        await sock.send(
            v1("realtime:room", "phx_join", join_payload(postgres_changes=[binding]), "1", "1")
        )
        reply = await sock.recv()
        [entry] = reply["payload"]["response"]["postgres_changes"]
        assert entry == {**binding, "id": entry["id"]}  # the binding echoed, plus its id
        assert await sock.recv() == system_frame("room", "ok", "Subscribed to PostgreSQL")

        await execute(stack, "insert into todos (id, title) values (1, 'x')")
        frame = await sock.recv()
        assert (frame["event"], frame["ref"], frame["payload"]["ids"]) == (
            "postgres_changes",
            None,
            [entry["id"]],
        )
        assert list(frame["payload"]) == ["ids", "data"]
        assert list(frame["payload"]["data"]) == [
            "columns",
            "commit_timestamp",
            "errors",
            "schema",
            "table",
            "record",
            "type",
        ]
        await execute(stack, "update todos set title = 'y' where id = 1")
        assert list((await sock.recv())["payload"]["data"]) == [
            "columns",
            "commit_timestamp",
            "errors",
            "schema",
            "table",
            "old_record",
            "record",
            "type",
        ]


async def test_a_v2_client_gets_the_change_as_a_fastlane_array(stack: RealtimeStack) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": "todos"}
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as sock:
        await sock.send(
            ["3", "3", "realtime:room", "phx_join", join_payload(postgres_changes=[binding])]
        )
        [entry] = (await sock.recv())[4]["response"]["postgres_changes"]
        assert (await sock.recv())[:4] == ["3", None, "realtime:room", "system"]
        await execute(stack, "insert into todos (id, title) values (2, 'y')")
        join_ref, ref, topic, event, payload = await sock.recv()
        assert (join_ref, ref, topic, event) == (None, None, "realtime:room", "postgres_changes")
        assert payload["ids"] == [entry["id"]]
        assert payload["data"]["record"]["title"] == "y"


def _exception(params: str, error: str) -> str:
    return (
        "Unable to subscribe to changes with given parameters. An exception happened so please"
        f" check your connect parameters: [{params}]. Exception: {error}"
    )


REFUSED: list[tuple[dict[str, Any], str]] = [
    (
        {"event": "*", "schema": "public", "table": "nope"},
        "Unable to subscribe to changes with given parameters. Please check Realtime is enabled"
        " for the given connect parameters: [event: *, schema: public, table: nope, filters: [],"
        " select: nil]",
    ),
    (
        {"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=foo.1"},
        'Error parsing `filter` params: ["foo", "1"]',
    ),
    (
        {"event": "INSERT", "schema": "public", "table": "todos", "filter": "undefined"},
        'Error parsing `filter` params: ["undefined"]',
    ),
    (
        {"event": "*", "schema": "public", "table": "todos", "filter": "title=in.one"},
        "Error parsing `filter` params: `in` filter value must be wrapped by parentheses",
    ),
    (
        {"event": "*", "schema": "public", "table": "todos", "filter": "id=eq.1,,"},
        "Error parsing `filter` params: filter must not contain empty segments"
        " (check for extra commas)",
    ),
    (
        {"event": "*", "schema": "public", "filter": "id=eq.1"},
        "No subscription params provided. Please provide at least a `schema` or `table` to"
        ' subscribe to: %{"event" => "*", "filter" => "id=eq.1", "schema" => "public"}',
    ),
    (
        {"event": "*", "schema": "public", "select": ["id"]},
        "Column selection is not supported for wildcard subscriptions. Provide an explicit"
        " schema and table name.",
    ),
    (
        {"event": "UPDATE", "schema": "public", "table": "todos", "filter": "id=eq.abc"},
        _exception(
            'event: UPDATE, schema: public, table: todos, filters: [{"id", "eq", "abc", false}],'
            " select: nil",
            'ERROR 22P02 (invalid_text_representation) invalid input syntax for type bigint: "abc"',
        ),
    ),
    (
        {"event": "*", "schema": "public", "table": "todos", "filter": "nope=not.eq.1"},
        _exception(
            'event: *, schema: public, table: todos, filters: [{"nope", "eq", "1", true}],'
            " select: nil",
            "ERROR P0001 (raise_exception) invalid column for filter nope",
        ),
    ),
    (
        {"event": "*", "schema": "public", "table": "todos", "filter": "score=is.true"},
        _exception(
            'event: *, schema: public, table: todos, filters: [{"score", "is", "true", false}],'
            " select: nil",
            "ERROR P0001 (raise_exception) is true filter requires a boolean column, got numeric",
        ),
    ),
    (
        {
            "event": "*",
            "schema": "public",
            "table": "todos",
            "filter": "id=in.(" + ",".join(map(str, range(101))) + ")",
        },
        _exception(
            'event: *, schema: public, table: todos, filters: [{"id", "in", "{'
            + ",".join(map(str, range(101)))
            + '}", false}], select: nil',
            "ERROR P0001 (raise_exception) too many values for `in` filter. Maximum 100",
        ),
    ),
    (
        {"event": "*", "schema": "public", "table": "todos", "select": ["title", "nope"]},
        _exception(
            'event: *, schema: public, table: todos, filters: [], select: ["title", "nope"]',
            "ERROR P0001 (raise_exception) invalid column for select nope",
        ),
    ),
]


async def test_refused_bindings_get_supabases_system_error_and_the_channel_stays(
    stack: RealtimeStack,
) -> None:
    async with raw_socket(stack.ws_url()) as sock:
        for n, (binding, message) in enumerate(REFUSED):
            topic, ref = f"realtime:bad{n}", str(n + 1)
            good = {"event": "*", "schema": "public", "table": "todos"}
            config = join_payload(postgres_changes=[good, binding])
            await sock.send(v1(topic, "phx_join", config, ref, ref))
            assert (await sock.recv())["payload"]["status"] == "ok"
            assert await sock.recv() == system_frame(f"bad{n}", "error", message), binding
        # Still joined (a push to a closed channel gets an "unmatched topic" error reply),
        # no phx_close came, and the refused channels get no changes.
        push = {"type": "broadcast", "event": "e", "payload": {}}
        await sock.send(v1("realtime:bad0", "broadcast", push, "99", "1"))
        await execute(stack, "insert into todos (title) values ('nobody gets this')")
        assert await sock.silent()


async def test_a_table_published_later_without_a_primary_key_gets_the_400_row(
    stack: RealtimeStack,
) -> None:
    await execute(
        stack,
        "create table public.loose (note text); grant select on public.loose to anon;"
        " alter publication supabase_realtime add table public.loose",
    )
    binding = {"event": "INSERT", "schema": "public", "table": "loose"}
    async with raw_socket(stack.ws_url()) as sock:
        [binding_id] = await raw_join(sock, "l", binding)
        await execute(stack, "insert into loose values ('no key')")
        assert (await sock.recv())["payload"] == {
            "ids": [binding_id],
            "data": {
                "columns": [],
                "commit_timestamp": None,
                "errors": ["Error 400: Bad Request, no primary key"],
                "schema": "public",
                "table": "loose",
                "record": {},
                "type": "INSERT",
            },
        }


async def test_a_row_committed_right_after_subscribed_is_never_missed(
    stack: RealtimeStack,
) -> None:
    async with realtime(stack) as rt:
        for n in range(8):
            received: asyncio.Queue[Any] = asyncio.Queue()
            states: asyncio.Queue[Any] = asyncio.Queue()
            channel = rt.channel(f"fresh{n}")
            channel.on_postgres_changes(
                Event.Insert, collect(received), table="todos", filter=f"id=eq.{n}"
            )
            channel.on_system(collect(received))
            await channel.subscribe(collect(states))
            assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
            await execute(stack, "insert into todos (id, title) values ($1, 'now')", n)
            system = await next_item(received)
            assert isinstance(system, SuccessSystemPayload)
            assert (await next_item(received))["data"]["record"]["id"] == n


async def test_a_row_committed_while_the_server_is_still_subscribing_waits_for_it(
    stack: RealtimeStack,
) -> None:
    pool = stack.context.pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]  # stall validation
    try:
        async with realtime(stack) as rt:
            received: asyncio.Queue[Any] = asyncio.Queue()
            states: asyncio.Queue[Any] = asyncio.Queue()
            channel = rt.channel("slow")
            channel.on_postgres_changes(Event.Insert, collect(received), table="todos")
            channel.on_system(collect(received))
            await channel.subscribe(collect(states))
            assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED
            await execute(stack, "insert into todos (id, title) values (1, 'early')")
            assert await nothing_arrives(received)  # not subscribed in the database yet

            for conn in held:
                await pool.release(conn)
            held = []
            assert isinstance(await next_item(received), SuccessSystemPayload)
            assert (await next_item(received))["data"]["record"]["title"] == "early"
    finally:
        for conn in held:
            await pool.release(conn)


async def test_supabase_py_receives_postgres_changes(stack: RealtimeStack) -> None:
    http = httpx.AsyncClient()  # our own client: postgrest-py's timeout argument is deprecated
    options = AsyncClientOptions(
        httpx_client=http, realtime={"max_retries": 1, "initial_backoff": 0.05}
    )
    supabase = await acreate_client(stack.url, stack.anon_key, options)
    received: asyncio.Queue[Any] = asyncio.Queue()
    try:
        channel = supabase.channel("db-changes")
        channel.on_postgres_changes(
            Event.All, collect(received), schema="public", table="todos", filter="done=eq.false"
        )
        await channel.subscribe()
        await supabase.table("todos").insert({"id": 11, "title": "via the Data API"}).execute()
        data = (await next_item(received))["data"]
        assert (data["type"], data["record"]["title"]) == ("INSERT", "via the Data API")
    finally:
        await supabase.remove_all_channels()
        await http.aclose()
