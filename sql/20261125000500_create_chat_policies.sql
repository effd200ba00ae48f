-- Row-level security: a user sees only the chats they belong to and their messages,
-- sends only as themselves into those chats, and moves only their own read marker.
create policy "members can read their chats"
  on public.chats for select to authenticated
  using (id in (select chat_private.my_chat_ids()));

create policy "members can see who is in their chats"
  on public.chat_members for select to authenticated
  using (chat_id in (select chat_private.my_chat_ids()));

create policy "members can move their own read marker"
  on public.chat_members for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

create policy "members can read messages of their chats"
  on public.messages for select to authenticated
  using (chat_id in (select chat_private.my_chat_ids()));

create policy "members can send as themselves into their chats"
  on public.messages for insert to authenticated
  with check (
    sender_id = (select auth.uid())
    and chat_id in (select chat_private.my_chat_ids())
  );
