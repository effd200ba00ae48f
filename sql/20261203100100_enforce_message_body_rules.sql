-- The documented message rules hold on every path, not only through the gateway: a body
-- is 1 to 4,000 characters and not only whitespace. Checked in the seq trigger, before the
-- chat row is locked, with errors a caller can tell apart (PostgREST answers both 400):
--   22001 string_data_right_truncation  body longer than chat_private.message_max_chars()
--   23514 check_violation               body empty or only whitespace
-- "Whitespace" is exactly what Python's str.strip() removes, so the gateway and the
-- database never disagree on what is empty.
create function chat_private.message_max_chars() returns integer
language sql immutable set search_path = '' as $$
  select 4000
$$;
comment on function chat_private.message_max_chars() is
  'Longest message body; change it with a new migration (gateways may only configure less).';

create function chat_private.blank_chars() returns text
language sql immutable set search_path = '' as $$
  select E'\t\n\u000b\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680'
      || E'\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a'
      || E'\u2028\u2029\u202f\u205f\u3000'
$$;
comment on function chat_private.blank_chars() is
  'The characters Python''s str.isspace() accepts: a body made only of them is empty.';

create function chat_private.is_blank(body text) returns boolean
language sql immutable set search_path = '' as $$
  select btrim(body, chat_private.blank_chars()) = ''
$$;

-- The table's check below calls these as the writing role.
revoke all on function chat_private.message_max_chars() from public;
revoke all on function chat_private.blank_chars() from public;
revoke all on function chat_private.is_blank(text) from public;
grant execute on function chat_private.message_max_chars() to authenticated, service_role;
grant execute on function chat_private.blank_chars() to authenticated, service_role;
grant execute on function chat_private.is_blank(text) to authenticated, service_role;

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

-- The same rules on the table, for writes that are not inserts (service_role updates).
-- NOT VALID: rows stored before this migration are not rechecked, so it applies to any
-- existing database; every new or changed row is.
alter table public.messages
  add constraint messages_body_rules
  check (char_length(body) <= chat_private.message_max_chars() and not chat_private.is_blank(body))
  not valid;
