"""Writing through the embedded Data API with supabase-py: inserts and their Prefer
options, upserts, updates, deletes, and the chat schema's messages under RLS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from postgrest.exceptions import APIError
from postgrest.types import CountMethod, ReturnMethod
from supabase import AsyncClient

from tests.conftest import EmbeddedStack
from tests.rest_helpers import (
    TODOS_SQL,
    Clients,
    User,
    create_user,
    raw,
    rows,
    run_sql,
)


@pytest.fixture
async def owner(embedded: EmbeddedStack) -> User:
    await run_sql(embedded, TODOS_SQL)
    return await create_user(embedded, "owner")


@pytest.fixture
async def todos(clients: Clients, owner: User) -> AsyncClient:
    """A signed-in user's client on an empty todos table."""
    return await clients.connect(user=owner)


async def test_insert_returns_the_stored_row_by_default(todos: AsyncClient, owner: User) -> None:
    result = await todos.table("todos").insert({"title": "first", "priority": 2}).execute()
    row = rows(result)[0]
    assert (row["title"], row["priority"], row["done"]) == ("first", 2, False)
    assert row["owner_id"] == owner.id  # the column default auth.uid() saw the JWT
    assert row["tags"] == [] and len(row["code"]) == 36


async def test_insert_with_returning_minimal_answers_201_without_a_body(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    result = (
        await todos.table("todos")
        .insert({"title": "quiet"}, returning=ReturnMethod.minimal)
        .execute()
    )
    assert result.data == []
    reply = await raw(
        embedded,
        "POST",
        "/todos",
        token=owner.token,
        body=json.dumps({"title": "js style"}),
        headers={"Content-Type": "application/json"},
    )
    assert (reply.status, reply.text, reply.headers["Content-Range"]) == (201, "", "*/*")
    stored = await todos.table("todos").select("title").order("id").execute()
    assert [r["title"] for r in rows(stored)] == ["quiet", "js style"]


async def test_bulk_insert_fills_missing_keys_with_null_or_defaults(todos: AsyncClient) -> None:
    batch: list[dict[str, Any]] = [{"title": "a", "priority": 1}, {"title": "b", "done": True}]
    with_defaults = await todos.table("todos").insert(batch, default_to_null=False).execute()
    assert [(r["priority"], r["done"]) for r in rows(with_defaults)] == [(1, False), (None, True)]
    with pytest.raises(APIError) as nulls:
        await todos.table("todos").insert(batch).execute()
    assert nulls.value.code == "23502"  # done: null violates not null, as on Supabase


async def test_insert_select_and_count_shape_the_answer(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    result = (
        await todos.table("todos")
        .insert([{"title": "x"}, {"title": "y"}], count=CountMethod.exact)
        .select("title")
        .execute()
    )
    assert result.data == [{"title": "x"}, {"title": "y"}]
    assert result.count == 2
    reply = await raw(
        embedded,
        "POST",
        "/todos?select=title,done",
        token=owner.token,
        body=json.dumps({"title": "z"}),
        headers={"Prefer": "return=representation, count=exact", "Content-Profile": "public"},
    )
    assert reply.status == 201
    assert reply.json() == [{"title": "z", "done": False}]
    assert reply.headers["Content-Range"] == "*/1"
    assert reply.headers["Content-Profile"] == "public"
    assert reply.headers["Preference-Applied"] == "return=representation, count=exact"


async def test_headers_only_insert_answers_with_the_rows_location(
    embedded: EmbeddedStack, owner: User
) -> None:
    reply = await raw(
        embedded,
        "POST",
        "/todos",
        token=owner.token,
        body=json.dumps({"title": "located"}),
        headers={"Prefer": "return=headers-only"},
    )
    assert (reply.status, reply.text) == (201, "")
    rows = await run_sql(embedded, "select id from public.todos where title = $1", "located")
    assert reply.headers["Location"] == f"/todos?id=eq.{rows[0]['id']}"


async def test_upsert_merges_duplicates_by_primary_key(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    first = await todos.table("todos").insert({"title": "draft", "priority": 1}).execute()
    row_id = rows(first)[0]["id"]
    merged = await todos.table("todos").upsert({"id": row_id, "title": "final"}).execute()
    assert (rows(merged)[0]["title"], rows(merged)[0]["priority"]) == ("final", 1)
    again = await raw(
        embedded,
        "POST",
        "/todos",
        token=owner.token,
        body=json.dumps({"id": row_id, "title": "again"}),
        headers={"Prefer": "resolution=merge-duplicates, return=minimal"},
    )
    assert again.status == 200  # nothing new inserted
    assert again.headers["Preference-Applied"] == "resolution=merge-duplicates, return=minimal"
    fresh = await raw(
        embedded,
        "POST",
        "/todos",
        token=owner.token,
        body=json.dumps({"id": row_id + 100, "title": "new"}),
        headers={"Prefer": "resolution=merge-duplicates"},
    )
    assert fresh.status == 201


async def test_upsert_ignoring_duplicates_keeps_the_existing_row(todos: AsyncClient) -> None:
    first = await todos.table("todos").insert({"title": "keep me"}).execute()
    code = rows(first)[0]["code"]
    result = (
        await todos.table("todos")
        .upsert(
            [{"code": code, "title": "replaced?"}, {"title": "added"}],
            on_conflict="code",
            ignore_duplicates=True,
            default_to_null=False,
        )
        .execute()
    )
    assert [r["title"] for r in rows(result)] == ["added"]
    stored = await todos.table("todos").select("title").order("id").execute()
    assert [r["title"] for r in rows(stored)] == ["keep me", "added"]


async def test_upsert_on_a_unique_column_updates_that_row(todos: AsyncClient) -> None:
    first = await todos.table("todos").insert({"title": "by code"}).execute()
    code = rows(first)[0]["code"]
    result = (
        await todos.table("todos")
        .upsert({"code": code, "title": "renamed"}, on_conflict="code")
        .execute()
    )
    assert rows(result)[0]["id"] == rows(first)[0]["id"]
    assert rows(result)[0]["title"] == "renamed"


async def test_update_changes_only_filtered_rows(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    await (
        todos.table("todos")
        .insert(
            [
                {"title": "a", "priority": 1},
                {"title": "b", "priority": 5},
                {"title": "c", "priority": 9},
            ]
        )
        .execute()
    )
    result = (
        await todos.table("todos")
        .update({"done": True}, count=CountMethod.exact)
        .gte("priority", 5)
        .execute()
    )
    assert sorted(r["title"] for r in rows(result)) == ["b", "c"]
    assert result.count == 2
    reply = await raw(
        embedded, "PATCH", "/todos?title=eq.a", token=owner.token, body=json.dumps({"priority": 2})
    )
    assert (reply.status, reply.headers["Content-Range"]) == (204, "0-0/*")
    done = await todos.table("todos").select("title").eq("done", True).order("title").execute()
    assert [r["title"] for r in rows(done)] == ["b", "c"]


async def test_update_of_an_unknown_column_is_pgrst204(todos: AsyncClient) -> None:
    with pytest.raises(APIError) as error:
        await todos.table("todos").update({"colour": "red"}).eq("id", 1).execute()
    assert error.value.code == "PGRST204"
    assert error.value.message == (
        "Could not find the 'colour' column of 'todos' in the schema cache"
    )


async def test_delete_removes_filtered_rows_and_returns_them(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    batch: list[dict[str, Any]] = [{"title": "old", "done": True}, {"title": "new"}]
    await todos.table("todos").insert(batch, default_to_null=False).execute()
    result = await todos.table("todos").delete().eq("done", True).execute()
    assert [r["title"] for r in rows(result)] == ["old"]
    reply = await raw(
        embedded,
        "DELETE",
        "/todos?title=eq.new",
        token=owner.token,
        headers={"Prefer": "count=exact"},
    )
    assert (reply.status, reply.headers["Content-Range"]) == (204, "*/1")
    assert (await todos.table("todos").select("*").execute()).data == []


async def test_single_on_a_write_that_hits_two_rows_rolls_it_back(todos: AsyncClient) -> None:
    await todos.table("todos").insert([{"title": "one"}, {"title": "two"}]).execute()
    with pytest.raises(APIError) as error:
        await todos.table("todos").update({"done": True}).neq("title", "x").single().execute()
    assert error.value.code == "PGRST116"
    done = await todos.table("todos").select("*").eq("done", True).execute()
    assert done.data == []


async def test_max_affected_with_strict_handling_rolls_back(
    embedded: EmbeddedStack, todos: AsyncClient, owner: User
) -> None:
    await todos.table("todos").insert([{"title": "one"}, {"title": "two"}]).execute()
    with pytest.raises(APIError) as error:
        await todos.table("todos").delete().gt("id", 0).max_affected(1).execute()
    assert (error.value.code, error.value.details) == ("PGRST124", "The query affects 2 rows")
    assert len((await todos.table("todos").select("*").execute()).data) == 2


async def test_insert_for_another_owner_is_refused_by_rls(
    embedded: EmbeddedStack, todos: AsyncClient
) -> None:
    other = await create_user(embedded, "other")
    with pytest.raises(APIError) as error:
        await todos.table("todos").insert({"title": "gift", "owner_id": other.id}).execute()
    assert error.value.code == "42501"
    assert error.value.message == 'new row violates row-level security policy for table "todos"'


async def test_insert_of_a_row_the_writer_cannot_read_needs_returning_minimal(
    embedded: EmbeddedStack, clients: Clients, owner: User
) -> None:
    await run_sql(
        embedded,
        """
        create table public.drop_box (id bigint generated always as identity primary key,
                                      note text not null);
        alter table public.drop_box enable row level security;
        grant select, insert on public.drop_box to authenticated;
        create policy "anyone drops notes" on public.drop_box for insert to authenticated
          with check (true);
        create policy "nobody reads notes" on public.drop_box for select to authenticated
          using (false);
    """,
    )
    client = await clients.connect(user=owner)
    with pytest.raises(APIError) as error:
        await client.table("drop_box").insert({"note": "seen?"}).execute()
    assert error.value.code == "42501"
    quiet = (
        await client.table("drop_box")
        .insert({"note": "unseen"}, returning=ReturnMethod.minimal)
        .execute()
    )
    assert quiet.data == []
    assert [
        r["note"]
        for r in await run_sql(embedded, "select note from public.drop_box where $1", True)
    ] == ["unseen"]


# The chat schema -----------------------------------------------------------------------------


@pytest.fixture
async def chat(clients: Clients) -> dict[str, Any]:
    alice = await create_user(clients.embedded, "alice")
    bob = await create_user(clients.embedded, "bob")
    as_alice = await clients.connect(user=alice)
    chat_id = (await as_alice.rpc("get_or_create_direct_chat", {"peer_id": bob.id}).execute()).data
    return {
        "id": chat_id,
        "alice": alice,
        "bob": bob,
        "as_alice": as_alice,
        "as_bob": await clients.connect(user=bob),
    }


async def test_member_sends_messages_and_reads_history_newest_first(chat: dict[str, Any]) -> None:
    messages = chat["as_alice"].table("messages")
    sent = await messages.insert(
        {"chat_id": chat["id"], "body": "hi bob", "client_msg_id": "c1"}
    ).execute()
    row = rows(sent)[0]
    assert (row["seq"], row["sender_id"], row["body"]) == (1, chat["alice"].id, "hi bob")
    await (
        chat["as_bob"]
        .table("messages")
        .insert({"chat_id": chat["id"], "body": "hi alice"})
        .execute()
    )
    await messages.insert({"chat_id": chat["id"], "body": "how are you?"}).execute()
    history = (
        await chat["as_bob"]
        .table("messages")
        .select("seq, body")
        .eq("chat_id", chat["id"])
        .order("seq", desc=True)
        .limit(2)
        .execute()
    )
    assert history.data == [{"seq": 3, "body": "how are you?"}, {"seq": 2, "body": "hi alice"}]
    newer = (
        await messages.select("seq").eq("chat_id", chat["id"]).gt("seq", 1).order("seq").execute()
    )
    assert [m["seq"] for m in rows(newer)] == [2, 3]


async def test_a_resent_client_msg_id_stores_nothing_new(chat: dict[str, Any]) -> None:
    messages = chat["as_alice"].table("messages")
    await messages.insert({"chat_id": chat["id"], "body": "once", "client_msg_id": "m1"}).execute()
    again = await messages.insert(
        {"chat_id": chat["id"], "body": "once", "client_msg_id": "m1"}
    ).execute()
    assert again.data == []
    stored = await messages.select("seq").eq("chat_id", chat["id"]).execute()
    assert stored.data == [{"seq": 1}]


async def test_outsiders_see_no_messages_and_cannot_send(
    clients: Clients, chat: dict[str, Any]
) -> None:
    await (
        chat["as_alice"]
        .table("messages")
        .insert({"chat_id": chat["id"], "body": "private"})
        .execute()
    )
    carol = await clients.connect(user=await create_user(clients.embedded, "carol"))
    seen = await carol.table("messages").select("*").eq("chat_id", chat["id"]).execute()
    assert seen.data == []
    assert (await carol.table("chats").select("*").execute()).data == []
    with pytest.raises(APIError) as error:
        await carol.table("messages").insert({"chat_id": chat["id"], "body": "let me in"}).execute()
    assert error.value.code == "42501"


async def test_members_move_their_read_marker_only_forward(chat: dict[str, Any]) -> None:
    for text in ("one", "two", "three"):
        await (
            chat["as_alice"]
            .table("messages")
            .insert({"chat_id": chat["id"], "body": text})
            .execute()
        )
    members = chat["as_bob"].table("chat_members")
    moved = (
        await members.update({"last_read_seq": 2})
        .eq("chat_id", chat["id"])
        .eq("user_id", chat["bob"].id)
        .execute()
    )
    assert rows(moved)[0]["last_read_seq"] == 2
    back = (
        await members.update({"last_read_seq": 1})
        .eq("chat_id", chat["id"])
        .eq("user_id", chat["bob"].id)
        .select("last_read_seq")
        .execute()
    )
    assert back.data == [{"last_read_seq": 2}]
