-- A user may block another: from then on no messages, typing, read receipts or presence
-- pass between them (either way), and no new chat opens between them. Each user sees and
-- manages only their own blocks; whether someone blocked you is never readable.
create table public.user_blocks (
  blocker_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  blocked_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (blocker_id, blocked_id),
  constraint user_blocks_not_self check (blocker_id <> blocked_id)
);
comment on table public.user_blocks is 'Who blocked whom; each user sees only their own blocks.';

-- The primary key indexes blocker_id; the checks below also look blocks up by blocked_id.
create index user_blocks_blocked_id_idx on public.user_blocks (blocked_id);

alter table public.user_blocks enable row level security;

revoke all on table public.user_blocks from anon, authenticated;
grant select, delete on table public.user_blocks to authenticated;
grant insert (blocker_id, blocked_id) on table public.user_blocks to authenticated;
grant select, insert, update, delete on table public.user_blocks to service_role;

create policy "users can see whom they blocked"
  on public.user_blocks for select to authenticated
  using (blocker_id = (select auth.uid()));

create policy "users can block as themselves"
  on public.user_blocks for insert to authenticated
  with check (blocker_id = (select auth.uid()));

create policy "users can lift their own blocks"
  on public.user_blocks for delete to authenticated
  using (blocker_id = (select auth.uid()));

-- Whether a block stands between two users, whichever of them made it. security definer:
-- callers cannot read the other user's blocks themselves.
create function chat_private.blocked_between(a uuid, b uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.user_blocks
     where (blocker_id = a and blocked_id = b) or (blocker_id = b and blocked_id = a)
  )
$$;
comment on function chat_private.blocked_between(uuid, uuid) is
  'A block stands between a and b (either way).';
revoke all on function chat_private.blocked_between(uuid, uuid) from public;
grant execute on function chat_private.blocked_between(uuid, uuid) to authenticated, service_role;

-- Whether two users share a (direct) chat: whose presence and blocks matter to gateways.
create function chat_private.share_a_chat(a uuid, b uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.chats
     where direct_key = least(a::text, b::text) || ':' || greatest(a::text, b::text)
  )
$$;
revoke all on function chat_private.share_a_chat(uuid, uuid) from public;
grant execute on function chat_private.share_a_chat(uuid, uuid) to authenticated, service_role;

-- Block and unblock by id, idempotently (the gateway's REST endpoints call these with the
-- user's token, so RLS applies). An unknown user id is PT404 'no such user', as when
-- starting a chat; the caller cannot read auth.users, so a definer helper looks.
create function chat_private.user_exists(id uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from auth.users u where u.id = user_exists.id and u.deleted_at is null)
$$;
revoke all on function chat_private.user_exists(uuid) from public;
grant execute on function chat_private.user_exists(uuid) to authenticated, service_role;

create function public.block_user(user_id uuid) returns void
language plpgsql security invoker set search_path = '' as $$
begin
  perform chat_private.require_existing_caller();
  if user_id is null or user_id = (select auth.uid()) then
    raise exception 'a block needs another user' using errcode = 'PT400';
  end if;
  if not chat_private.user_exists(block_user.user_id) then
    raise exception 'no such user' using errcode = 'PT404';
  end if;
  insert into public.user_blocks (blocker_id, blocked_id)
    values ((select auth.uid()), block_user.user_id)
    on conflict do nothing;
end;
$$;
create function public.unblock_user(user_id uuid) returns void
language plpgsql security invoker set search_path = '' as $$
begin
  perform chat_private.require_existing_caller();
  delete from public.user_blocks
   where blocker_id = (select auth.uid()) and blocked_id = unblock_user.user_id;
end;
$$;
-- Whom the caller blocked, newest first, as one jsonb array (no max-rows cut).
create function public.list_my_blocks() returns jsonb
language sql stable security invoker set search_path = '' as $$
  select coalesce(jsonb_agg(blocked_id order by created_at desc, blocked_id), '[]'::jsonb)
    from public.user_blocks
   where blocker_id = (select auth.uid())
$$;
comment on function public.list_my_blocks() is 'Whom the caller blocked, newest first.';
revoke all on function public.list_my_blocks() from public, anon;
grant execute on function public.list_my_blocks() to authenticated, service_role;

comment on function public.block_user(uuid) is 'Block a user (idempotent).';
comment on function public.unblock_user(uuid) is 'Lift your block of a user (idempotent).';

revoke all on function public.block_user(uuid) from public, anon;
revoke all on function public.unblock_user(uuid) from public, anon;
grant execute on function public.block_user(uuid) to authenticated, service_role;
grant execute on function public.unblock_user(uuid) to authenticated, service_role;

-- Gateways keep the blocks between people who share a chat in memory (they filter presence
-- and typing by them): each change is published once on a gateway topic, with both ids.
create function chat_private.broadcast_block() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  b public.user_blocks := coalesce(new, old);
begin
  perform realtime.send(
    jsonb_build_object(
      'user_id', b.blocker_id,
      'peer_id', b.blocked_id,
      'blocked', tg_op = 'INSERT',
      'member_ids', jsonb_build_array(b.blocker_id, b.blocked_id)
    ),
    'block', chat_private.delivery_topic(b.blocker_id), true
  );
  return null;
end;
$$;
revoke all on function chat_private.broadcast_block() from public;

create trigger user_blocks_broadcast
  after insert or delete on public.user_blocks
  for each row execute function chat_private.broadcast_block();

-- What a gateway loads at start and after a reconnect: every block between two users who
-- share a chat, as one jsonb array of [blocker, blocked] (no max-rows cut). service_role.
create function public.gateway_blocks() returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_array(b.blocker_id, b.blocked_id)), '[]'::jsonb)
    from public.user_blocks b
   where chat_private.share_a_chat(b.blocker_id, b.blocked_id)
$$;
comment on function public.gateway_blocks() is
  'Blocks between users who share a chat, for the gateways'' presence and typing filters.';
revoke all on function public.gateway_blocks() from public, anon, authenticated;
grant execute on function public.gateway_blocks() to service_role;
