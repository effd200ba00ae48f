-- A message is published once on its chat's gateway topic (chats:<k>) for the gateways,
-- and, unchanged, on each member's private topic user:<id> for direct subscribers.
create or replace function chat_private.broadcast_message() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  member_ids jsonb;
  payload jsonb;
  member uuid;
begin
  select coalesce(jsonb_agg(user_id order by user_id), '[]'::jsonb) into member_ids
    from public.chat_members where chat_id = new.chat_id;
  payload := jsonb_build_object(
    'id', new.id,
    'chat_id', new.chat_id,
    'seq', new.seq,
    'sender_id', new.sender_id,
    'body', new.body,
    'client_msg_id', new.client_msg_id,
    'created_at', new.created_at,
    'member_ids', member_ids
  );
  perform realtime.send(payload, 'message', chat_private.delivery_topic(new.chat_id), true);
  for member in select value::uuid from jsonb_array_elements_text(member_ids) loop
    perform realtime.send(payload, 'message', 'user:' || member::text, true);
  end loop;
  return null;
end;
$$;
