-- No message passes between two users when either blocked the other, on every path.
-- What each side is told (README "Blocking"):
--   * the blocked sender gets exactly what a user who does not exist gets: PT404 'no such
--     user' (HTTP 404) from send_direct_message and get_or_create_direct_chat, so a block
--     is not announced (as Signal and WhatsApp do not tell a blocked sender);
--   * the blocker is told to unblock first: 42501 (HTTP 403);
--   * a direct insert into public.messages gets RLS's own refusal (42501), the answer
--     to any refused insert, checked after the seq trigger's authorisation.
create function chat_private.refuse_blocked_message() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if exists (
    select 1 from public.chat_members m
     where m.chat_id = new.chat_id and m.user_id <> new.sender_id
       and chat_private.blocked_between(m.user_id, new.sender_id)
  ) then
    raise exception 'new row violates row-level security policy for table "messages"'
      using errcode = '42501';
  end if;
  return new;
end;
$$;
revoke all on function chat_private.refuse_blocked_message() from public;

-- Named to fire after messages_assign_seq (before-triggers fire in name order): a refused
-- insert is first refused as RLS refuses it, so this check is no oracle on blocks.
create trigger messages_refuse_blocked
  before insert on public.messages
  for each row execute function chat_private.refuse_blocked_message();

-- The caller's relation to a peer, as send_direct_message and get_or_create_direct_chat
-- answer it: PT404 when the peer blocked the caller (as for no such user), 42501 when the
-- caller blocked the peer.
create function chat_private.require_unblocked(me uuid, peer uuid) returns void
language plpgsql stable security definer set search_path = '' as $$
begin
  if exists (select 1 from public.user_blocks where blocker_id = peer and blocked_id = me) then
    raise exception 'no such user' using errcode = 'PT404';
  end if;
  if exists (select 1 from public.user_blocks where blocker_id = me and blocked_id = peer) then
    raise exception 'you blocked this user: unblock them to send messages'
      using errcode = '42501';
  end if;
end;
$$;
revoke all on function chat_private.require_unblocked(uuid, uuid) from public;
grant execute on function chat_private.require_unblocked(uuid, uuid) to authenticated, service_role;

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
  perform chat_private.require_unblocked(me, peer_id);
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

-- A chat does not open with a user who blocked you, nor with one you blocked.
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
  perform chat_private.require_unblocked(me, peer_id);
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

-- A read marker reaches no member who blocked its owner or was blocked by them: they are
-- left out of the gateways' member ids and get nothing on their user:<id> topic.
create or replace function chat_private.broadcast_read_marker() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  member_ids jsonb;
  payload jsonb;
  member uuid;
begin
  if new.last_read_seq = old.last_read_seq then
    return null;
  end if;
  select coalesce(jsonb_agg(m.user_id order by m.user_id), '[]'::jsonb) into member_ids
    from public.chat_members m
   where m.chat_id = new.chat_id
     and (m.user_id = new.user_id or not chat_private.blocked_between(m.user_id, new.user_id));
  payload := jsonb_build_object(
    'chat_id', new.chat_id, 'user_id', new.user_id, 'seq', new.last_read_seq
  );
  perform realtime.send(
    payload || jsonb_build_object('member_ids', member_ids),
    'read', chat_private.delivery_topic(new.chat_id), true
  );
  for member in select value::uuid from jsonb_array_elements_text(member_ids) loop
    perform realtime.send(payload, 'read', 'user:' || member::text, true);
  end loop;
  return null;
end;
$$;
