-- When a member's read marker moves, tell every member on their private topic (event
-- "read", payload {chat_id, user_id, seq}), in the same transaction.
create function chat_private.broadcast_read_marker() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  member uuid;
  payload jsonb;
begin
  if new.last_read_seq = old.last_read_seq then
    return null;
  end if;
  payload := jsonb_build_object(
    'chat_id', new.chat_id, 'user_id', new.user_id, 'seq', new.last_read_seq
  );
  for member in select user_id from public.chat_members where chat_id = new.chat_id loop
    perform realtime.send(payload, 'read', 'user:' || member::text, true);
  end loop;
  return null;
end;
$$;
revoke all on function chat_private.broadcast_read_marker() from public;

create trigger chat_members_broadcast_read_marker
  after update of last_read_seq on public.chat_members
  for each row execute function chat_private.broadcast_read_marker();
