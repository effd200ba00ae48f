"""Reading through the embedded Data API with supabase-py: select, every filter,
logic trees, order, paging, counts, single rows and RLS."""

from __future__ import annotations

from typing import Any

import pytest
from postgrest.exceptions import APIError
from postgrest.types import CountMethod
from supabase import AsyncClient

from tests.conftest import EmbeddedStack
from tests.rest_helpers import (
    TODOS_SQL,
    Clients,
    add_todos,
    create_user,
    raw,
    rows,
    run_sql,
)

ROWS: list[dict[str, Any]] = [
    {
        "title": "buy milk",
        "done": False,
        "priority": 1,
        "score": 1.5,
        "tags": ["home", "shop"],
        "meta": {"room": "kitchen", "n": 1},
        "due_at": "2026-01-01T10:00:00+00:00",
    },
    {
        "title": "Write report",
        "done": True,
        "priority": 3,
        "score": 10,
        "tags": ["work"],
        "meta": {"room": "office", "n": 2},
        "due_at": "2026-02-01T10:00:00+00:00",
    },
    {"title": "call mom, dad", "done": False},
    {
        "title": 'fix "quoted" bug',
        "done": True,
        "priority": 2,
        "score": 2.25,
        "tags": ["work", "home"],
        "meta": {"room": "office", "n": 3},
        "due_at": "2026-03-01T10:00:00+00:00",
    },
]


@pytest.fixture
async def todos(embedded: EmbeddedStack, clients: Clients) -> list[dict[str, Any]]:
    await run_sql(embedded, TODOS_SQL)
    return await add_todos(clients, None, ROWS)


@pytest.fixture
async def service(clients: Clients) -> AsyncClient:
    return await clients.connect(service=True)


def titles(rows: list[Any]) -> list[str]:
    return sorted(row["title"] for row in rows)


async def test_select_names_aliases_and_casts_columns(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    result = (
        await service.table("todos").select("id, label:title, priority::text").order("id").execute()
    )
    assert rows(result)[0] == {"id": todos[0]["id"], "label": "buy milk", "priority": "1"}
    assert set(rows(result)[2]) == {"id", "label", "priority"}
    everything = await service.table("todos").select("*").eq("id", todos[1]["id"]).execute()
    assert rows(everything)[0]["meta"] == {"room": "office", "n": 2}
    assert rows(everything)[0]["tags"] == ["work"]


async def test_comparison_filters_cast_values_to_each_column_type(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    assert titles((await table.select("title").eq("done", True).execute()).data) == [
        "Write report",
        'fix "quoted" bug',
    ]
    assert titles((await table.select("title").neq("priority", 1).execute()).data) == [
        "Write report",
        'fix "quoted" bug',
    ]
    assert titles((await table.select("title").gt("score", 2).execute()).data) == [
        "Write report",
        'fix "quoted" bug',
    ]
    assert titles(
        (await table.select("title").gte("priority", 2).lt("priority", 3).execute()).data
    ) == ['fix "quoted" bug']
    assert titles(
        (await table.select("title").lte("due_at", "2026-02-01T10:00:00Z").execute()).data
    ) == ["Write report", "buy milk"]
    by_code = await table.select("title").eq("code", todos[2]["code"]).execute()
    assert titles(by_code.data) == ["call mom, dad"]


async def test_like_and_ilike_treat_star_as_wildcard(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    assert titles((await table.select("title").like("title", "*report").execute()).data) == [
        "Write report"
    ]
    assert titles((await table.select("title").ilike("title", "write*").execute()).data) == [
        "Write report"
    ]
    assert (await table.select("title").like("title", "write*").execute()).data == []
    assert titles(
        (await table.select("title").like_any_of("title", "buy*,call*").execute()).data
    ) == ["buy milk", "call mom, dad"]


async def test_plus_in_a_query_string_is_a_space(
    embedded: EmbeddedStack, todos: list[dict[str, Any]]
) -> None:
    reply = await raw(
        embedded, "GET", "/todos?select=title&title=eq.buy+milk", key=embedded.service_key
    )
    assert reply.json() == [{"title": "buy milk"}]
    literal = await raw(
        embedded, "GET", "/todos?select=title&title=eq.buy%2Bmilk", key=embedded.service_key
    )
    assert literal.json() == []


async def test_in_filter_keeps_values_with_commas_quotes_and_spaces_whole(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    wanted = ["call mom, dad", 'fix "quoted" bug', "buy milk", "missing"]
    result = await service.table("todos").select("title").in_("title", wanted).execute()
    assert titles(result.data) == ["buy milk", "call mom, dad", 'fix "quoted" bug']
    ids = [todos[0]["id"], todos[1]["id"]]
    by_id = await service.table("todos").select("title").in_("id", ids).execute()
    assert titles(by_id.data) == ["Write report", "buy milk"]


async def test_is_filter_matches_null_and_booleans(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    assert titles((await table.select("title").is_("priority", None).execute()).data) == [
        "call mom, dad"
    ]
    assert len((await table.select("title").not_.is_("meta", None).execute()).data) == 3
    assert titles((await table.select("title").is_("done", True).execute()).data) == [
        "Write report",
        'fix "quoted" bug',
    ]
    assert len((await table.select("title").is_("done", False).execute()).data) == 2


async def test_not_prefix_negates_any_filter(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    result = await table.select("title").not_.in_("title", ["buy milk", "Write report"]).execute()
    assert titles(result.data) == ["call mom, dad", 'fix "quoted" bug']
    assert titles((await table.select("title").not_.like("title", "*o*").execute()).data) == [
        "buy milk"
    ]


async def test_or_and_and_trees_nest_and_negate(
    embedded: EmbeddedStack, service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    either = await table.select("title").or_('priority.eq.1,title.eq."call mom, dad"').execute()
    assert titles(either.data) == ["buy milk", "call mom, dad"]
    nested = (
        await table.select("title").or_("and(done.is.true,priority.gt.2),tags.cs.{shop}").execute()
    )
    assert titles(nested.data) == ["Write report", "buy milk"]
    negated = await table.select("title").not_.or_("done.is.true,priority.is.null").execute()
    assert titles(negated.data) == ["buy milk"]
    listed = await table.select("title").or_(f"id.in.({todos[0]['id']},{todos[3]['id']})").execute()
    assert titles(listed.data) == ["buy milk", 'fix "quoted" bug']
    both = await raw(
        embedded,
        "GET",
        "/todos?select=title&and=(done.is.false,or(priority.eq.1,priority.is.null))",
        key=embedded.service_key,
    )
    assert titles(both.json()) == ["buy milk", "call mom, dad"]


async def test_array_json_regex_and_distinct_operators(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    assert titles((await table.select("title").contains("tags", ["home"]).execute()).data) == [
        "buy milk",
        'fix "quoted" bug',
    ]
    assert titles(
        (await table.select("title").contained_by("tags", ["work", "home"]).execute()).data
    ) == ["Write report", "call mom, dad", 'fix "quoted" bug']
    assert titles(
        (await table.select("title").overlaps("tags", ["shop", "work"]).execute()).data
    ) == ["Write report", "buy milk", 'fix "quoted" bug']
    assert titles(
        (await table.select("title").contains("meta", {"room": "office"}).execute()).data
    ) == ["Write report", 'fix "quoted" bug']
    assert titles(
        (await table.select("title").filter("title", "match", "^[A-Z]").execute()).data
    ) == ["Write report"]
    assert len((await table.select("title").filter("title", "imatch", "^w").execute()).data) == 1
    distinct = await table.select("title").filter("priority", "isdistinct", "1").execute()
    assert titles(distinct.data) == ["Write report", "call mom, dad", 'fix "quoted" bug']


async def test_json_paths_select_and_filter_inside_documents(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    result = (
        await service.table("todos")
        .select("title, room:meta->>room, meta->n")
        .eq("meta->>room", "office")
        .order("meta->n")
        .execute()
    )
    assert result.data == [
        {"title": "Write report", "room": "office", "n": 2},
        {"title": 'fix "quoted" bug', "room": "office", "n": 3},
    ]


async def test_full_text_search_filters_on_tsvector_and_text(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    vector = (
        await table.select("title").text_search("search", "report", {"config": "english"}).execute()
    )
    assert titles(vector.data) == ["Write report"]
    text = await table.select("title").text_search("title", "milk", {"type": "plain"}).execute()
    assert titles(text.data) == ["buy milk"]


async def test_order_by_several_columns_with_nulls_placement(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    table = service.table("todos")
    first = await table.select("title").order("priority", desc=True, nullsfirst=True).execute()
    assert [r["title"] for r in rows(first)] == [
        "call mom, dad",
        "Write report",
        'fix "quoted" bug',
        "buy milk",
    ]
    last = await table.select("title").order("done").order("priority", nullsfirst=False).execute()
    assert [r["title"] for r in rows(last)] == [
        "buy milk",
        "call mom, dad",
        'fix "quoted" bug',
        "Write report",
    ]


async def test_range_with_exact_count_reports_total_and_partial_content(
    embedded: EmbeddedStack, service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    result = (
        await service.table("todos")
        .select("title", count=CountMethod.exact)
        .order("id")
        .range(1, 2)
        .execute()
    )
    assert [r["title"] for r in rows(result)] == ["Write report", "call mom, dad"]
    assert result.count == 4
    reply = await raw(
        embedded,
        "GET",
        "/todos?select=id&order=id&offset=1&limit=2",
        key=embedded.service_key,
        headers={"Prefer": "count=exact"},
    )
    assert reply.status == 206
    assert reply.headers["Content-Range"] == "1-2/4"
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    whole = await raw(embedded, "GET", "/todos?select=id", key=embedded.service_key)
    assert (whole.status, whole.headers["Content-Range"]) == (200, "0-3/*")
    planned = await raw(
        embedded,
        "GET",
        "/todos?select=id&limit=1",
        key=embedded.service_key,
        headers={"Prefer": "count=planned"},
    )
    assert (planned.status, planned.headers["Content-Range"]) == (206, "0-0/4")
    assert planned.headers["Preference-Applied"] == "count=planned"


async def test_range_header_pages_a_get(
    embedded: EmbeddedStack, todos: list[dict[str, Any]]
) -> None:
    reply = await raw(
        embedded,
        "GET",
        "/todos?select=title&order=id",
        key=embedded.service_key,
        headers={"Range": "2-5", "Prefer": "count=exact"},
    )
    assert [r["title"] for r in reply.json()] == ["call mom, dad", 'fix "quoted" bug']
    assert (reply.status, reply.headers["Content-Range"]) == (206, "2-3/4")


async def test_offset_past_the_end_is_416(
    embedded: EmbeddedStack, todos: list[dict[str, Any]]
) -> None:
    reply = await raw(
        embedded,
        "GET",
        "/todos?offset=10",
        key=embedded.service_key,
        headers={"Prefer": "count=exact"},
    )
    assert reply.status == 416
    assert reply.json()["code"] == "PGRST103"
    assert reply.json()["details"] == "An offset of 10 was requested, but there are only 4 rows."
    empty = await raw(embedded, "GET", "/todos?id=eq.0", key=embedded.service_key)
    assert (empty.status, empty.headers["Content-Range"], empty.json()) == (200, "*/*", [])


async def test_head_counts_without_a_body(
    embedded: EmbeddedStack, service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    result = (
        await service.table("todos")
        .select("*", count=CountMethod.exact, head=True)
        .eq("done", True)
        .execute()
    )
    assert result.count == 2
    assert not result.data
    reply = await raw(
        embedded, "HEAD", "/todos", key=embedded.service_key, headers={"Prefer": "count=exact"}
    )
    assert (reply.status, reply.text, reply.headers["Content-Range"]) == (200, "", "0-3/4")
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_single_returns_an_object_or_a_406(
    embedded: EmbeddedStack, service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    one = await service.table("todos").select("title").eq("id", todos[0]["id"]).single().execute()
    assert one.data == {"title": "buy milk"}
    with pytest.raises(APIError) as many:
        await service.table("todos").select("title").eq("done", True).single().execute()
    assert many.value.code == "PGRST116"
    assert many.value.details == "The result contains 2 rows"
    reply = await raw(
        embedded,
        "GET",
        "/todos?id=eq.0",
        key=embedded.service_key,
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert reply.status == 406
    assert reply.headers["Proxy-Status"] == "PostgREST; error=PGRST116"


async def test_stripped_nulls_leave_null_fields_out(
    embedded: EmbeddedStack, todos: list[dict[str, Any]]
) -> None:
    reply = await raw(
        embedded,
        "GET",
        "/todos?select=title,priority&order=id&limit=3",
        key=embedded.service_key,
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert reply.json() == [
        {"title": "buy milk", "priority": 1},
        {"title": "Write report", "priority": 3},
        {"title": "call mom, dad"},
    ]
    assert reply.headers["Content-Type"] == (
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
    )


async def test_maybe_single_returns_none_or_the_row(
    service: AsyncClient, todos: list[dict[str, Any]]
) -> None:
    assert await service.table("todos").select("*").eq("id", 0).maybe_single().execute() is None
    found = (
        await service.table("todos")
        .select("title")
        .eq("id", todos[1]["id"])
        .maybe_single()
        .execute()
    )
    assert found is not None and found.data == {"title": "Write report"}


async def test_rls_shows_each_user_only_their_rows(
    embedded: EmbeddedStack, clients: Clients
) -> None:
    await run_sql(embedded, TODOS_SQL)
    alice, bob = await create_user(embedded, "alice"), await create_user(embedded, "bob")
    await add_todos(clients, alice, [{"title": "alice's"}])
    await add_todos(clients, bob, [{"title": "bob's"}])
    as_alice = await clients.connect(user=alice)
    assert titles((await as_alice.table("todos").select("*").execute()).data) == ["alice's"]
    as_bob = await clients.connect(user=bob)
    hidden = await as_bob.table("todos").select("*").eq("title", "alice's").execute()
    assert hidden.data == []


async def test_reads_are_capped_at_db_max_rows(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    await run_sql(
        embedded,
        TODOS_SQL + "; insert into public.todos (title)"
        " select 't' || n from generate_series(1, 1005) n",
    )
    result = await service.table("todos").select("id", count=CountMethod.exact).execute()
    assert (len(result.data), result.count) == (1000, 1005)
