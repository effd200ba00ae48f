-- The only way to start a direct chat: returns the chat between the caller and peer_id,
-- creating it (with both members) if needed. Race-free: the unique direct_key decides.
create function public.get_or_create_direct_chat(peer_id uuid) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  me uuid := auth.uid();
  key text;
  found uuid;
begin
  if me is null then
    raise exception 'sign in to start a chat' using errcode = '42501';
  end if;
  if peer_id is null or peer_id = me then
    raise exception 'a direct chat needs another user' using errcode = 'PT400';
  end if;
  if not exists (select 1 from auth.users where id = peer_id) then
    raise exception 'no such user' using errcode = 'PT404';
  end if;
  key := least(me::text, peer_id::text) || ':' || greatest(me::text, peer_id::text);
  insert into public.chats (kind, direct_key) values ('direct', key)
    on conflict (direct_key) do nothing
    returning id into found;
  if found is null then
    select id into found from public.chats where direct_key = key;
    return found;
  end if;
  insert into public.chat_members (chat_id, user_id) values (found, me), (found, peer_id);
  return found;
end;
$$;
comment on function public.get_or_create_direct_chat(uuid) is
  'The direct chat between the caller and peer_id, created on first use.';

revoke all on function public.get_or_create_direct_chat(uuid) from public, anon;
grant execute on function public.get_or_create_direct_chat(uuid) to authenticated, service_role;
