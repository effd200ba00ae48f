-- list_my_chats answers one JSON array instead of a set of rows. The Data API caps the
-- rows of any answer at its max rows (db-max-rows: 1,000 on the CLI and on hosted
-- projects by default), set-returning functions included, so a user with more chats got
-- only 1,000 of them: wrong start points for the rest (a new message there replayed the
-- chat's history). One jsonb value is one row, whatever the number of chats, and is read
-- in one snapshot (paging would not be: a chat that moves between pages is lost).
-- Same keys and order as before: chat_id, peer_id, last_message_at, last_message_text,
-- last_seq, last_read_seq, unread_count; newest first.
drop function public.list_my_chats();

create function public.list_my_chats() returns jsonb
language sql stable security invoker set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'chat_id', c.id,
           'peer_id', peer.user_id,
           'last_message_at', c.last_message_at,
           'last_message_text', c.last_message_text,
           'last_seq', c.last_seq,
           'last_read_seq', me.last_read_seq,
           'unread_count', (select count(*) from public.messages m
                             where m.chat_id = c.id and m.seq > me.last_read_seq
                               and m.sender_id <> me.user_id))
           order by c.last_message_at desc nulls last, c.created_at desc, c.id), '[]'::jsonb)
    from public.chat_members me
    join public.chats c on c.id = me.chat_id
    left join public.chat_members peer on peer.chat_id = c.id and peer.user_id <> me.user_id
   where me.user_id = (select auth.uid())
$$;
comment on function public.list_my_chats() is
  'The caller''s chats (a JSON array, newest first) with peer and unread count.';

revoke all on function public.list_my_chats() from public, anon;
grant execute on function public.list_my_chats() to authenticated;
