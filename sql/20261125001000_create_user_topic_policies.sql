-- Private Realtime channels: a user may join only their own topic user:<their uid>.
-- No insert policy: nobody but the database broadcasts on these topics.
create policy "users can receive their own topic"
  on realtime.messages for select to authenticated
  using (
    topic = 'user:' || (select auth.uid())::text
    and extension = 'broadcast'
  );
