-- A refused message insert answers exactly as RLS does, whatever was refused. The seq
-- trigger runs before RLS's WITH CHECK; it used to look up the sender's membership and
-- their client_msg_id first, so another user could learn who is in a chat ("sender is
-- not a member" vs RLS's error) and which keys someone used (201 [] vs 403) by writing
-- with a forged sender_id. Now the sender must be the caller and a member, checked first.
create or replace function chat_private.assign_message_seq() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  current_seq bigint;
begin
  if new.body is null or chat_private.is_blank(new.body) then
    raise exception 'message body must not be empty' using errcode = '23514';
  end if;
  if char_length(new.body) > chat_private.message_max_chars() then
    raise exception 'message body is longer than % characters', chat_private.message_max_chars()
      using errcode = '22001';
  end if;

  -- Authorise before anything else is looked at, with RLS's own refusal: a user writes
  -- only as themselves (service_role and the owner carry no user) into their own chats.
  -- So a refused insert tells nothing — not whether the chat exists, who is in it, nor
  -- which client_msg_id another sender used (the duplicate check below sees only the
  -- caller's own keys).
  if (auth.uid() is not null and new.sender_id is distinct from auth.uid())
     or not exists (
       select 1 from public.chat_members
       where chat_id = new.chat_id and user_id = new.sender_id
     ) then
    raise exception 'new row violates row-level security policy for table "messages"'
      using errcode = '42501';
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
