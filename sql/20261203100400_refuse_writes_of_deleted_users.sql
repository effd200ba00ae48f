-- A still-valid access token of a deleted user writes nothing and gets a clear answer.
-- Tokens outlive their user (Auth cannot recall a JWT before it expires, and the Data API
-- checks only its signature), so sending used to fail deep inside, on a foreign key
-- (500 through the gateway) or on membership. Now it is refused first with GoTrue's own
-- words for it ("User from sub claim in JWT does not exist", user_not_found, 403):
-- SQLSTATE PT403, which PostgREST answers 403. A soft-deleted user (deleted_at set)
-- counts as deleted, as GoTrue refuses their tokens too.
create function chat_private.require_existing_caller() returns void
language plpgsql stable security definer set search_path = '' as $$
begin
  if not exists (
    select 1 from auth.users where id = (select auth.uid()) and deleted_at is null
  ) then
    raise exception 'User from sub claim in JWT does not exist' using errcode = 'PT403';
  end if;
end;
$$;
comment on function chat_private.require_existing_caller() is
  'Refuse (PT403) a caller whose token names a user that no longer exists.';

revoke all on function chat_private.require_existing_caller() from public;
grant execute on function chat_private.require_existing_caller() to authenticated;

create or replace function public.send_direct_message(
  peer_id uuid, body text, client_msg_id text default null
) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  me uuid := auth.uid();
  chat uuid;
  stored public.messages;
  created boolean := true;
begin
  perform chat_private.require_existing_caller();
  select c.id into chat from public.chats c
   where c.direct_key = least(me::text, peer_id::text) || ':' || greatest(me::text, peer_id::text)
     and me is distinct from peer_id;
  if chat is null then
    chat := public.get_or_create_direct_chat(peer_id);  -- validates the peer, creates the chat
  end if;
  insert into public.messages (chat_id, sender_id, body, client_msg_id)
    values (chat, me, send_direct_message.body, send_direct_message.client_msg_id)
    returning * into stored;
  if stored.id is null then
    -- Skipped by the seq trigger: this client_msg_id is already stored.
    created := false;
    select * into stored from public.messages m
      where m.sender_id = me and m.client_msg_id = send_direct_message.client_msg_id;
    if stored.chat_id is distinct from chat then
      raise exception 'client_msg_id was already used in another chat' using errcode = 'PT409';
    end if;
  end if;
  return jsonb_build_object(
    'created', created,
    'message', jsonb_build_object(
      'id', stored.id,
      'chat_id', stored.chat_id,
      'seq', stored.seq,
      'sender_id', stored.sender_id,
      'receiver_id', peer_id,
      'body', stored.body,
      'client_msg_id', stored.client_msg_id,
      'created_at', stored.created_at
    )
  );
end;
$$;

-- Starting a chat directly is held to the same check (it failed on a foreign key).
create or replace function public.get_or_create_direct_chat(peer_id uuid) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  me uuid := auth.uid();
  key text;
  found uuid;
begin
  if me is null then
    raise exception 'sign in to start a chat' using errcode = '42501';
  end if;
  perform chat_private.require_existing_caller();
  if peer_id is null or peer_id = me then
    raise exception 'a direct chat needs another user' using errcode = 'PT400';
  end if;
  if not exists (select 1 from auth.users where id = peer_id) then
    raise exception 'no such user' using errcode = 'PT404';
  end if;
  key := least(me::text, peer_id::text) || ':' || greatest(me::text, peer_id::text);
  insert into public.chats (kind, direct_key) values ('direct', key)
    on conflict (direct_key) do nothing
    returning id into found;
  if found is null then
    select id into found from public.chats where direct_key = key;
    return found;
  end if;
  insert into public.chat_members (chat_id, user_id) values (found, me), (found, peer_id);
  return found;
end;
$$;
