"""Supabase's default privileges on the embedded stack: a table made with the docs' SQL (create
table, enable RLS, add policies, no `grant`) works through the Data API and Postgres Changes
for `anon`, `authenticated` and `service_role`, RLS deciding which rows each sees.

Followed: supabase/postgres migrations/db/init-scripts/00000000000000-initial-schema.sql,
run as `postgres` by migrations/db/migrate.sh, sets `alter default privileges in schema
public grant all on tables / functions / sequences to … anon, authenticated, service_role`;
the Supabase docs (guides/database/postgres/row-level-security) create tables and policies
without a single `grant`.
"""

from __future__ import annotations

import pytest
from postgrest.exceptions import APIError

from tests.postgres_changes_helpers import Event, realtime, subscriber
from tests.realtime_helpers import RealtimeStack, create_user, next_item, run_sql
from tests.rest_helpers import Clients, User, rows

# The docs' pattern, verbatim in spirit: no grant anywhere. `bigserial` makes inserts need the
# sequence's default privilege too.
NOTES_SQL = """
create table public.notes (
  id bigserial primary key,
  user_id uuid not null default auth.uid() references auth.users (id),
  body text not null
);
alter table public.notes enable row level security;
create policy "Notes are viewable by everyone." on public.notes
  for select using (true);
create policy "Users can add their own notes." on public.notes
  for insert to authenticated with check ((select auth.uid()) = user_id);
create function public.count_notes() returns bigint
  language sql stable as $$ select count(*) from public.notes $$;
alter publication supabase_realtime add table public.notes;
"""


@pytest.fixture
async def notes(stack: RealtimeStack) -> None:
    await run_sql(stack, NOTES_SQL)


async def _user(stack: RealtimeStack) -> User:
    uid, token = await create_user(stack)
    return User(uid, f"{uid}@example.test", token)


async def test_a_table_made_without_grants_answers_every_api_role(
    stack: RealtimeStack, notes: None
) -> None:
    author = await _user(stack)
    async with Clients(stack) as clients:
        as_author = await clients.connect(user=author)
        written = rows(await as_author.table("notes").insert({"body": "hello"}).execute())
        assert [(r["id"], r["user_id"], r["body"]) for r in written] == [(1, author.id, "hello")]

        anon = await clients.connect()
        assert rows(await anon.table("notes").select("body").execute()) == [{"body": "hello"}]
        assert (await anon.rpc("count_notes", {}).execute()).data == 1

        service = await clients.connect(service=True)
        assert rows(await service.table("notes").select("user_id").execute()) == [
            {"user_id": author.id}
        ]
        # RLS still decides: anon has the privilege but no insert policy.
        with pytest.raises(APIError) as refused:
            await anon.table("notes").insert({"body": "drive-by"}).execute()
        assert refused.value.code == "42501"
        assert refused.value.message == (
            'new row violates row-level security policy for table "notes"'
        )


async def test_a_filtered_postgres_changes_subscription_on_such_a_table_gets_its_rows(
    stack: RealtimeStack, notes: None
) -> None:
    """Realtime checks the subscriber's select privilege on the filter's columns
    (supabase/realtime `realtime.subscription_check_filters`): the default grant passes it."""
    author = await _user(stack)
    async with realtime(stack, author.token) as rt:
        sub = await subscriber(
            rt,
            "notes-feed",
            {
                "event": Event.Insert,
                "schema": "public",
                "table": "notes",
                "filter": f"user_id=eq.{author.id}",
            },
        )
        async with Clients(stack) as clients:
            as_author = await clients.connect(user=author)
            await as_author.table("notes").insert({"body": "live"}).execute()
        change = await next_item(sub.events)
        assert change["data"]["record"]["body"] == "live"
        assert change["data"]["type"] == "INSERT"


async def test_the_chat_tables_keep_the_explicit_grants_of_sql(
    stack: RealtimeStack,
) -> None:
    """sql/ revokes what the default privileges give and grants each role what it needs, so
    the chat schema means the same on a database without Supabase's defaults."""
    async with Clients(stack) as clients:
        anon = await clients.connect()
        with pytest.raises(APIError) as refused:
            await anon.table("messages").select("*").execute()
        assert (refused.value.code, refused.value.message) == (
            "42501",
            "permission denied for table messages",
        )
        user = await clients.connect(user=await _user(stack))
        with pytest.raises(APIError) as no_insert:
            await user.table("chats").insert({"kind": "direct"}).execute()
        assert (no_insert.value.code, no_insert.value.message) == (
            "42501",
            "permission denied for table chats",
        )
