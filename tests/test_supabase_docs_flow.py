"""The chat flow from Supabase's Realtime docs, unchanged, with supabase-py against the
embedded stack: sign up, insert a message, receive it on a private broadcast topic and
through postgres_changes, and see the peer in presence. The schema and policies are the
docs' own pattern (rooms_users membership, realtime.broadcast_changes trigger, RLS on
realtime.messages with realtime.topic())."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import asyncpg
import httpx
from realtime import (
    RealtimeChannelOptions,
    RealtimePostgresChangesListenEvent,
    RealtimeSubscribeStates,
)
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from tests.conftest import EmbeddedStack

WAIT = 10.0

DOCS_SCHEMA = """
create table public.rooms_users (
  user_id uuid not null references auth.users (id),
  room_topic text not null,
  primary key (user_id, room_topic)
);
alter table public.rooms_users enable row level security;
grant select on public.rooms_users to authenticated;
create policy "users see their memberships" on public.rooms_users for select
  to authenticated using (user_id = (select auth.uid()));
create table public.room_messages (
  id bigint generated always as identity primary key,
  room_topic text not null,
  user_id uuid not null default auth.uid() references auth.users (id),
  content text not null
);
alter table public.room_messages enable row level security;
grant select, insert on public.room_messages to authenticated;
create policy "members read room messages" on public.room_messages for select
  to authenticated using (exists (select 1 from public.rooms_users ru
    where ru.user_id = (select auth.uid()) and ru.room_topic = room_messages.room_topic));
create policy "members write room messages" on public.room_messages for insert
  to authenticated with check (user_id = (select auth.uid()) and exists (
    select 1 from public.rooms_users ru
    where ru.user_id = (select auth.uid()) and ru.room_topic = room_messages.room_topic));
alter publication supabase_realtime add table public.room_messages;

create function public.room_messages_changes() returns trigger
security definer set search_path = '' language plpgsql as $$
begin
  perform realtime.broadcast_changes(
    'room:' || coalesce(new.room_topic, old.room_topic), tg_op, tg_op,
    tg_table_name, tg_table_schema, new, old);
  return null;
end $$;
create trigger room_messages_broadcast after insert or update or delete
  on public.room_messages for each row execute function public.room_messages_changes();

create policy "room members receive broadcasts and presence" on realtime.messages
  for select to authenticated using (exists (select 1 from public.rooms_users ru
    where ru.user_id = (select auth.uid()) and 'room:' || ru.room_topic = (select realtime.topic())
      and realtime.messages.extension in ('broadcast', 'presence')));
create policy "room members track presence" on realtime.messages
  for insert to authenticated with check (exists (select 1 from public.rooms_users ru
    where ru.user_id = (select auth.uid()) and 'room:' || ru.room_topic = (select realtime.topic())
      and realtime.messages.extension = 'presence'));
"""


async def client(embedded: EmbeddedStack, http: httpx.AsyncClient) -> AsyncClient:
    return await acreate_client(
        embedded.url, embedded.anon_key, options=AsyncClientOptions(httpx_client=http)
    )


async def signed_up(embedded: EmbeddedStack, http: httpx.AsyncClient) -> tuple[AsyncClient, str]:
    supabase = await client(embedded, http)
    email = f"docs-{uuid.uuid4().hex[:8]}@example.test"
    response = await supabase.auth.sign_up({"email": email, "password": "docs-flow-password"})
    assert response.user is not None and response.session is not None
    await supabase.realtime.set_auth(response.session.access_token)
    return supabase, response.user.id


def queue_callback(queue: asyncio.Queue[Any]) -> Any:
    def callback(*args: Any) -> None:
        queue.put_nowait(args[0] if len(args) == 1 else args)

    return callback


async def test_the_docs_chat_flow_with_supabase_py(embedded: EmbeddedStack) -> None:
    conn = await asyncpg.connect(embedded.database_url)
    try:
        await conn.execute(DOCS_SCHEMA)
        async with httpx.AsyncClient() as http:
            alice, alice_id = await signed_up(embedded, http)
            bob, bob_id = await signed_up(embedded, http)
            outsider, _ = await signed_up(embedded, http)
            try:
                await docs_flow(conn, alice, alice_id, bob, bob_id, outsider)
            finally:
                for supabase in (alice, bob, outsider):
                    await supabase.realtime.close()
    finally:
        await conn.close()


async def docs_flow(
    conn: asyncpg.Connection,
    alice: AsyncClient,
    alice_id: str,
    bob: AsyncClient,
    bob_id: str,
    outsider: AsyncClient,
) -> None:
    await conn.executemany(
        "insert into public.rooms_users values ($1, 'lobby')", [(alice_id,), (bob_id,)]
    )

    broadcasts: asyncio.Queue[Any] = asyncio.Queue()
    changes: asyncio.Queue[Any] = asyncio.Queue()
    joins: asyncio.Queue[Any] = asyncio.Queue()
    # The docs' option dicts, as written there (realtime-py's TypedDicts want every key).
    room = cast(
        RealtimeChannelOptions,
        {"config": {"private": True, "presence": {"key": bob_id, "enabled": True}}},
    )
    bob_channel = (
        bob.channel("room:lobby", room)
        .on_broadcast("INSERT", queue_callback(broadcasts))
        .on_postgres_changes(
            RealtimePostgresChangesListenEvent.Insert,
            queue_callback(changes),
            schema="public",
            table="room_messages",
        )
        .on_presence_join(queue_callback(joins))
    )
    await bob_channel.subscribe()
    await bob_channel.track({"name": "bob"})

    alice_room = cast(
        RealtimeChannelOptions, {"config": {"private": True, "presence": {"key": alice_id}}}
    )
    alice_channel = alice.channel("room:lobby", alice_room)
    await alice_channel.subscribe()
    await alice_channel.track({"name": "alice"})

    denied: asyncio.Queue[Any] = asyncio.Queue()
    private = cast(RealtimeChannelOptions, {"config": {"private": True}})
    await outsider.channel("room:lobby", private).subscribe(queue_callback(denied))
    state, error = await asyncio.wait_for(denied.get(), WAIT)
    assert state == RealtimeSubscribeStates.CHANNEL_ERROR
    assert "Unauthorized" in str(error)

    while True:  # bob sees alice arrive (his own join comes first)
        key, _, new = await asyncio.wait_for(joins.get(), WAIT)
        if key == alice_id:
            assert new[0]["name"] == "alice"
            break

    inserted = (
        await alice.table("room_messages")
        .insert({"room_topic": "lobby", "content": "hello from the docs"})
        .execute()
    )
    assert cast(list[dict[str, Any]], inserted.data)[0]["user_id"] == alice_id

    broadcast = await asyncio.wait_for(broadcasts.get(), WAIT)
    assert broadcast["payload"]["record"]["content"] == "hello from the docs"
    assert broadcast["payload"]["operation"] == "INSERT"
    change = await asyncio.wait_for(changes.get(), WAIT)
    assert change["data"]["record"]["content"] == "hello from the docs"
    assert change["data"]["type"] == "INSERT"
    assert alice_id in bob_channel.presence_state()
