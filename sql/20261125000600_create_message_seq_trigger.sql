-- Before a message is stored: lock its chat row, skip a repeated client_msg_id, assign
-- seq = last_seq + 1 and update the chat's summary. The row lock serialises writers of
-- one chat, so seq has no gaps even under concurrency; a rolled-back insert rolls its
-- increment back with it.
create function chat_private.assign_message_seq() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  current_seq bigint;
begin
  if not exists (
    select 1 from public.chat_members
    where chat_id = new.chat_id and user_id = new.sender_id
  ) then
    raise exception 'sender is not a member of this chat' using errcode = '42501';
  end if;

  select last_seq into current_seq from public.chats where id = new.chat_id for update;

  -- Checked under the chat lock: a retry racing the original sees it once it commits.
  if new.client_msg_id is not null and exists (
    select 1 from public.messages
    where sender_id = new.sender_id and client_msg_id = new.client_msg_id
  ) then
    return null;  -- already stored: insert nothing, the caller reads the original
  end if;

  new.seq := current_seq + 1;
  new.created_at := now();
  update public.chats
     set last_seq = new.seq,
         last_message_at = new.created_at,
         last_message_text = new.body
   where id = new.chat_id;
  return new;
end;
$$;
revoke all on function chat_private.assign_message_seq() from public;

create trigger messages_assign_seq
  before insert on public.messages
  for each row execute function chat_private.assign_message_seq();
