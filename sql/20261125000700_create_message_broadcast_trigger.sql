-- After a message is stored, broadcast it to each member's private Realtime topic
-- user:<user_id>, in the same transaction (delivered only if it commits).
create function chat_private.broadcast_message() returns trigger
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
  for member in select value::uuid from jsonb_array_elements_text(member_ids) loop
    perform realtime.send(payload, 'message', 'user:' || member::text, true);
  end loop;
  return null;
end;
$$;
revoke all on function chat_private.broadcast_message() from public;

create trigger messages_broadcast
  after insert on public.messages
  for each row execute function chat_private.broadcast_message();
