"""Calling database functions through /rest/v1/rpc with supabase-py: arguments, every
return shape, filters on results, transactions, errors and new functions."""

from __future__ import annotations

import json

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

FUNCTIONS_SQL = """
create function public.add_numbers(a int, b int default 10) returns int
  language sql immutable as $$ select a + b $$;
create function public.todo_titles(min_priority int) returns setof text
  language sql stable as $$
    select title from public.todos where priority >= min_priority order by title $$;
create function public.todo_by_title(name text) returns public.todos
  language sql stable as $$ select * from public.todos where title = name $$;
create function public.open_todos() returns setof public.todos
  language sql stable as $$ select * from public.todos where not done $$;
create function public.todo_stats() returns table (total bigint, finished bigint)
  language sql stable as $$
    select count(*), count(*) filter (where done) from public.todos $$;
create function public.add_todo(note text) returns void
  language plpgsql as $$ begin insert into public.todos (title) values (note); end $$;
create function public.echo(jsonb) returns jsonb
  language sql immutable as $$ select $1 $$;
create function public.tagged(tags text[]) returns setof text
  language sql stable as $$
    select t.title from public.todos t where t.tags && tagged.tags order by t.title $$;
create function public.accept_later(job text) returns text language plpgsql as $$
begin
  perform set_config('response.status', '202', true);
  perform set_config('response.headers', '[{"Location": "/jobs/' || job || '"}]', true);
  return 'queued';
end $$;
create function public.refuse(kind text) returns int language plpgsql as $$
begin
  if kind = 'teapot' then
    raise exception 'I am a teapot' using errcode = 'PT418', hint = 'brew coffee elsewhere';
  end if;
  raise exception 'refused: %', kind;
end $$;
"""


@pytest.fixture
async def service(embedded: EmbeddedStack, clients: Clients) -> AsyncClient:
    await run_sql(embedded, TODOS_SQL + FUNCTIONS_SQL)
    await add_todos(
        clients,
        None,
        [
            {"title": "milk", "priority": 1, "tags": ["home"]},
            {"title": "report", "priority": 3, "done": True, "tags": ["work"]},
            {"title": "taxes", "priority": 5, "tags": ["home", "work"]},
        ],
    )
    return await clients.connect(service=True)


async def test_direct_chat_rpc_returns_one_chat_for_both_users(clients: Clients) -> None:
    alice = await create_user(clients.embedded, "alice")
    bob = await create_user(clients.embedded, "bob")
    as_alice, as_bob = await clients.connect(user=alice), await clients.connect(user=bob)
    first = await as_alice.rpc("get_or_create_direct_chat", {"peer_id": bob.id}).execute()
    again = await as_bob.rpc("get_or_create_direct_chat", {"peer_id": alice.id}).execute()
    assert isinstance(first.data, str) and first.data == again.data
    chats = await as_bob.table("chats").select("id, kind").execute()
    assert chats.data == [{"id": first.data, "kind": "direct"}]
    members = (
        await as_alice.table("chat_members").select("user_id").eq("chat_id", first.data).execute()
    )
    assert sorted(m["user_id"] for m in rows(members)) == sorted([alice.id, bob.id])


async def test_send_direct_message_is_idempotent_and_chats_list_unread_counts(
    clients: Clients,
) -> None:
    alice = await create_user(clients.embedded, "alice")
    bob = await create_user(clients.embedded, "bob")
    as_alice, as_bob = await clients.connect(user=alice), await clients.connect(user=bob)
    params = {"peer_id": bob.id, "body": "hello", "client_msg_id": "k1"}
    first = (await as_alice.rpc("send_direct_message", params).execute()).data
    again = (await as_alice.rpc("send_direct_message", params).execute()).data
    assert isinstance(first, dict) and isinstance(again, dict)
    assert (first["created"], again["created"]) == (True, False)
    assert first["message"] == again["message"]
    await as_alice.rpc(
        "send_direct_message", {"peer_id": bob.id, "body": "there", "client_msg_id": None}
    ).execute()
    chats = rows(await as_bob.rpc("list_my_chats", {}).execute())  # one JSON array
    assert [(c["peer_id"], c["unread_count"], c["last_message_text"]) for c in chats] == [
        (alice.id, 2, "there")
    ]


async def test_direct_chat_rpc_refuses_anon_and_self(
    embedded: EmbeddedStack, clients: Clients
) -> None:
    alice = await create_user(embedded, "alice")
    with pytest.raises(APIError) as anon:
        await (
            (await clients.connect())
            .rpc("get_or_create_direct_chat", {"peer_id": alice.id})
            .execute()
        )
    assert anon.value.code == "42501"
    reply = await raw(
        embedded,
        "POST",
        "/rpc/get_or_create_direct_chat",
        token=alice.token,
        body=json.dumps({"peer_id": alice.id}),
    )
    assert (reply.status, reply.json()["code"]) == (400, "PT400")
    assert reply.json()["message"] == "a direct chat needs another user"


async def test_scalar_results_are_bare_json_and_defaults_apply(service: AsyncClient) -> None:
    assert (await service.rpc("add_numbers", {"a": 1, "b": 2}).execute()).data == 3
    assert (await service.rpc("add_numbers", {"a": 1}).execute()).data == 11
    assert (await service.rpc("add_numbers", {"a": 5}, get=True).execute()).data == 15


async def test_set_of_scalars_is_an_array(service: AsyncClient) -> None:
    result = await service.rpc("todo_titles", {"min_priority": 2}).execute()
    assert result.data == ["report", "taxes"]


async def test_array_arguments_travel_in_a_get(service: AsyncClient) -> None:
    result = await service.rpc("tagged", {"tags": ["work", "x,y"]}, get=True).execute()
    assert result.data == ["report", "taxes"]


async def test_composite_result_is_an_object(service: AsyncClient) -> None:
    result = await service.rpc("todo_by_title", {"name": "taxes"}).execute()
    assert isinstance(result.data, dict)
    assert (result.data["title"], result.data["priority"]) == ("taxes", 5)


async def test_table_results_take_filters_order_limit_and_count(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    result = (
        await service.rpc("open_todos", {}, count=CountMethod.exact)
        .select("title")
        .gt("priority", 0)
        .order("priority", desc=True)
        .limit(1)
        .execute()
    )
    assert result.data == [{"title": "taxes"}]
    assert result.count == 2
    stats = await service.rpc("todo_stats").execute()
    assert stats.data == [{"total": 3, "finished": 1}]
    reply = await raw(
        embedded,
        "GET",
        "/rpc/open_todos?select=title&order=title&offset=1",
        key=embedded.service_key,
        headers={"Prefer": "count=exact"},
    )
    assert (reply.status, reply.headers["Content-Range"]) == (206, "1-1/2")
    assert reply.json() == [{"title": "taxes"}]


async def test_head_and_argumentless_get_calls(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    stats = await service.rpc("todo_stats", get=True).execute()
    assert stats.data == [{"total": 3, "finished": 1}]
    head = await raw(
        embedded,
        "HEAD",
        "/rpc/todo_titles?min_priority=1",
        key=embedded.service_key,
        headers={"Prefer": "count=exact"},
    )
    assert (head.status, head.text, head.headers["Content-Range"]) == (200, "", "0-2/3")


async def test_single_unnamed_json_parameter_receives_the_whole_body(service: AsyncClient) -> None:
    body = {"any": ["shape", 1], "nested": {"ok": True}}
    assert (await service.rpc("echo", body).execute()).data == body


async def test_void_function_writes_and_answers_204(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    reply = await raw(
        embedded,
        "POST",
        "/rpc/add_todo",
        key=embedded.service_key,
        body=json.dumps({"note": "from rpc"}),
    )
    assert (reply.status, reply.text) == (204, "")
    found = await service.table("todos").select("title").eq("title", "from rpc").execute()
    assert found.data == [{"title": "from rpc"}]


async def test_volatile_function_through_get_runs_read_only(service: AsyncClient) -> None:
    with pytest.raises(APIError) as error:
        await service.rpc("add_todo", {"note": "sneaky"}, get=True).execute()
    assert error.value.code == "25006"
    assert (await service.table("todos").select("*").eq("title", "sneaky").execute()).data == []


async def test_unknown_function_or_arguments_are_pgrst202_with_a_hint(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    with pytest.raises(APIError) as misspelt:
        await service.rpc("add_number", {"a": 1}).execute()
    assert misspelt.value.code == "PGRST202"
    assert misspelt.value.message == (
        "Could not find the function public.add_number(a) in the schema cache"
    )
    assert misspelt.value.hint == "Perhaps you meant to call the function public.add_numbers"
    reply = await raw(
        embedded, "POST", "/rpc/add_numbers", key=embedded.service_key, body=json.dumps({"x": 1})
    )
    assert reply.status == 404
    assert reply.json()["hint"] == "Perhaps you meant to call the function public.add_numbers(a, b)"


async def test_raised_errors_map_to_statuses(embedded: EmbeddedStack, service: AsyncClient) -> None:
    teapot = await raw(
        embedded,
        "POST",
        "/rpc/refuse",
        key=embedded.service_key,
        body=json.dumps({"kind": "teapot"}),
    )
    assert teapot.status == 418
    assert teapot.json() == {
        "code": "PT418",
        "details": None,
        "hint": "brew coffee elsewhere",
        "message": "I am a teapot",
    }
    with pytest.raises(APIError) as plain:
        await service.rpc("refuse", {"kind": "no"}).execute()
    assert (plain.value.code, plain.value.message) == ("P0001", "refused: no")


async def test_a_function_created_while_running_is_found(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    assert (await service.rpc("add_numbers", {"a": 1}).execute()).data == 11
    await run_sql(
        embedded,
        "create function public.triple(n int) returns int"
        " language sql immutable as $$ select n * 3 $$",
    )
    assert (await service.rpc("triple", {"n": 4}).execute()).data == 12


async def test_functions_may_set_the_status_and_headers(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    reply = await raw(
        embedded,
        "POST",
        "/rpc/accept_later",
        key=embedded.service_key,
        body=json.dumps({"job": "j1"}),
    )
    assert (reply.status, reply.headers["Location"], reply.json()) == (202, "/jobs/j1", "queued")


async def test_options_lists_the_methods_a_function_allows(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    volatile = await raw(embedded, "OPTIONS", "/rpc/add_todo", key=embedded.service_key)
    assert (volatile.status, volatile.headers["Allow"]) == (200, "OPTIONS,POST")
    stable = await raw(embedded, "OPTIONS", "/rpc/todo_titles", key=embedded.service_key)
    assert stable.headers["Allow"] == "OPTIONS,GET,HEAD,POST"
    table = await raw(embedded, "OPTIONS", "/todos", key=embedded.service_key)
    assert table.headers["Allow"] == "OPTIONS,GET,HEAD,POST,PATCH,DELETE"
