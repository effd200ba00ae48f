-- send_direct_message: read the existing direct chat first and only fall back to
-- get_or_create_direct_chat (an insert attempt) when there is none. Same behaviour,
-- one write fewer on every send after a chat's first message.
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
