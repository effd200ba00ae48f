-- For presence_private.test.mjs: the docs' pattern for a private chat room. Members of a
-- chat may see and publish presence on its topic chat:<chat id>; nobody else may join it.
create policy "test: chat members see presence on their chat topic"
  on realtime.messages for select to authenticated
  using (
    realtime.messages.extension = 'presence'
    and (select realtime.topic()) in (
      select 'chat:' || chat_id::text from chat_private.my_chat_ids() as chat_id
    )
  );

create policy "test: chat members publish presence on their chat topic"
  on realtime.messages for insert to authenticated
  with check (
    realtime.messages.extension = 'presence'
    and (select realtime.topic()) in (
      select 'chat:' || chat_id::text from chat_private.my_chat_ids() as chat_id
    )
  );

-- The online-users test below is of presence open to everyone (gateway config
-- delivery.presence_visibility = "everyone", which a gateway writes at start).
update chat_private.presence_settings set visibility = 'everyone';
