-- Helpers for policies, in a schema the Data API does not expose. security definer so a
-- policy on chat_members can ask about chat_members without recursing into itself.
create schema if not exists chat_private;
revoke all on schema chat_private from public;
grant usage on schema chat_private to authenticated, service_role;

create function chat_private.my_chat_ids() returns setof uuid
language sql stable security definer set search_path = '' as $$
  select chat_id from public.chat_members where user_id = (select auth.uid())
$$;
comment on function chat_private.my_chat_ids() is 'The chats the current user belongs to.';

revoke all on function chat_private.my_chat_ids() from public;
grant execute on function chat_private.my_chat_ids() to authenticated, service_role;
