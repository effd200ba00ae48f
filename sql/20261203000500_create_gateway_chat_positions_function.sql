-- The position check: every chat that had a message since `since` (less a minute, for
-- transactions that began before it and committed after), where it stands and who its
-- members are. Gateways compare last_seq with what they have delivered, so even the last
-- message of a conversation is never silently missed. The answer carries the database's
-- own clock, for the next call: gateways need no synchronised clock. service_role only.
create function public.gateway_chat_positions(since timestamptz default null)
returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'checked_at', now(),
    'chats', coalesce((
      select jsonb_agg(jsonb_build_object(
               'chat_id', c.id,
               'last_seq', c.last_seq,
               'member_ids', (select jsonb_agg(m.user_id order by m.user_id)
                                from public.chat_members m where m.chat_id = c.id)))
        from public.chats c
       where since is not null and c.last_message_at >= since - interval '1 minute'
    ), '[]'::jsonb)
  )
$$;
comment on function public.gateway_chat_positions(timestamptz) is
  'Chats with messages since `since` (less a minute), for the gateways'' position check.';

revoke all on function public.gateway_chat_positions(timestamptz) from public, anon, authenticated;
grant execute on function public.gateway_chat_positions(timestamptz) to service_role;
