-- Send to a peer in one round trip: finds or creates the direct chat, inserts as the
-- caller (RLS applies: security invoker), and answers with the stored message and
-- whether this call created it. Repeating a client_msg_id returns the original.
create function public.send_direct_message(
  peer_id uuid, body text, client_msg_id text default null
) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  chat uuid;
  stored public.messages;
  created boolean := true;
begin
  chat := public.get_or_create_direct_chat(peer_id);
  insert into public.messages (chat_id, sender_id, body, client_msg_id)
    values (chat, auth.uid(), send_direct_message.body, send_direct_message.client_msg_id)
    returning * into stored;
  if stored.id is null then
    -- Skipped by the seq trigger: this client_msg_id is already stored.
    created := false;
    select * into stored from public.messages m
      where m.sender_id = auth.uid() and m.client_msg_id = send_direct_message.client_msg_id;
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
comment on function public.send_direct_message(uuid, text, text) is
  'Store a message to peer_id (idempotent per client_msg_id); returns {created, message}.';

revoke all on function public.send_direct_message(uuid, text, text) from public, anon;
grant execute on function public.send_direct_message(uuid, text, text) to authenticated;
