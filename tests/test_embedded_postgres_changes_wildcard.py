"""Wildcard Postgres Changes bindings (`table: '*'`, or a schema with no table) see tables
added to the `supabase_realtime` publication after the channel subscribed.

Followed: supabase/realtime lib/extensions/postgres_cdc_rls/subscription_manager.ex
(`:check_oids`: when the publication's tables change, every subscription is deleted and each
subscribed channel gets `:postgres_subscribe`), realtime_channel.ex (`:postgres_subscribe`
subscribes again, resolving `*` against pg_publication_tables, subscriptions.ex, and pushes
`system` "Subscribed to PostgreSQL" once more). Supabase notices within a minute; the
embedded stack at the new table's first change, which therefore is not lost.
"""

from __future__ import annotations

from tests.postgres_changes_helpers import TODOS, Event, execute, realtime, subscriber
from tests.realtime_helpers import RealtimeStack, create_user, next_item, nothing_arrives

# The docs' way to add a table: no grant (Supabase's default privileges), RLS, a policy.
LATER = """
create table public.later (id bigint primary key, owner uuid not null, note text);
alter table public.later enable row level security;
create policy "owners read their rows" on public.later for select to authenticated
  using (owner = (select auth.uid()));
alter publication supabase_realtime add table public.later;
"""


async def test_a_table_wildcard_gets_the_rows_of_a_table_published_after_it_subscribed(
    stack: RealtimeStack,
) -> None:
    await execute(stack, TODOS)
    owner, token = await create_user(stack)
    async with realtime(stack, token) as rt:
        sub = await subscriber(rt, "everything", {"schema": "public", "table": "*"})
        await execute(stack, LATER)
        await execute(
            stack, "insert into public.later values (1, $1, 'first row of a new table')", owner
        )
        change = (await next_item(sub.events))["data"]
        assert (change["table"], change["type"], change["record"]["note"]) == (
            "later",
            "INSERT",
            "first row of a new table",
        )
        # Re-subscribed as Supabase re-subscribes: the system message comes again.
        assert (await next_item(sub.system)).message == "Subscribed to PostgreSQL"
        # The tables it had keep coming, and RLS applies to the new one.
        await execute(stack, "insert into public.todos (id, title) values (1, 'old table')")
        assert (await next_item(sub.events))["data"]["table"] == "todos"
        stranger, _ = await create_user(stack)
        await execute(stack, "insert into public.later values (2, $1, 'not yours')", stranger)
        assert await nothing_arrives(sub.events)


async def test_a_schema_wide_binding_with_every_event_sees_a_new_table(
    stack: RealtimeStack,
) -> None:
    """supabase-js's `{ event: '*', schema: 'public' }` sends no `table` (Supabase reads it
    as `*`)."""
    await execute(stack, TODOS)
    owner, token = await create_user(stack)
    async with realtime(stack, token) as rt:
        sub = await subscriber(rt, "schema-wide", {"event": Event.All, "schema": "public"})
        await execute(stack, LATER)
        await execute(stack, "insert into public.later values (1, $1, 'a')", owner)
        await execute(stack, "update public.later set note = 'b' where id = 1")
        kinds = [(await next_item(sub.events))["data"]["type"] for _ in range(2)]
        assert kinds == ["INSERT", "UPDATE"]


async def test_a_binding_naming_another_table_is_not_touched_by_a_new_table(
    stack: RealtimeStack,
) -> None:
    await execute(stack, TODOS)
    owner, token = await create_user(stack)
    async with realtime(stack, token) as rt:
        sub = await subscriber(rt, "todos-only", {"schema": "public", "table": "todos"})
        await execute(stack, LATER)
        await execute(stack, "insert into public.later values (1, $1, 'elsewhere')", owner)
        await execute(stack, "insert into public.todos (id, title) values (1, 'here')")
        assert (await next_item(sub.events))["data"]["record"]["title"] == "here"
        assert await nothing_arrives(sub.system)
