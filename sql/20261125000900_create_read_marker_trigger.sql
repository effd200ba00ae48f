-- A read marker only moves forward and never past the chat's newest message.
create function chat_private.clamp_read_marker() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  new.last_read_seq := greatest(
    old.last_read_seq,
    least(new.last_read_seq, (select last_seq from public.chats where id = new.chat_id))
  );
  return new;
end;
$$;
revoke all on function chat_private.clamp_read_marker() from public;

create trigger chat_members_clamp_read_marker
  before update of last_read_seq on public.chat_members
  for each row execute function chat_private.clamp_read_marker();
