-- A read marker that moves is published once on the chat's gateway topic (with the
-- member ids, for routing) and, unchanged, on each member's private topic user:<id>.
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
  select coalesce(jsonb_agg(user_id order by user_id), '[]'::jsonb) into member_ids
    from public.chat_members where chat_id = new.chat_id;
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
