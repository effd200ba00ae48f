-- The caller's chats, newest first, with the peer and the unread count (messages from
-- others after the caller's read marker). security invoker: RLS decides what is seen.
create function public.list_my_chats()
returns table (
  chat_id uuid, peer_id uuid, last_message_at timestamptz, last_message_text text,
  last_seq bigint, last_read_seq bigint, unread_count bigint
)
language sql stable security invoker set search_path = '' as $$
  select c.id, peer.user_id, c.last_message_at, c.last_message_text, c.last_seq,
         me.last_read_seq,
         (select count(*) from public.messages m
           where m.chat_id = c.id and m.seq > me.last_read_seq and m.sender_id <> me.user_id)
    from public.chat_members me
    join public.chats c on c.id = me.chat_id
    left join public.chat_members peer on peer.chat_id = c.id and peer.user_id <> me.user_id
   where me.user_id = (select auth.uid())
   order by c.last_message_at desc nulls last, c.created_at desc, c.id
$$;
comment on function public.list_my_chats() is 'The caller''s chats with peer and unread count.';

revoke all on function public.list_my_chats() from public, anon;
grant execute on function public.list_my_chats() to authenticated;
