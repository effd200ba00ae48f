-- Who may see whom online. By default only people who share a chat, and never across a
-- block; the original app showed everyone to everyone, which gateways can still choose
-- (gateway config `presence.visibility`, which each gateway writes here at start so
-- direct subscribers are held to the same rule).
--
-- Supabase Realtime authorizes a channel once, at its join, by RLS on realtime.messages
-- (extension 'presence' for reading and tracking); it cannot filter one shared topic per
-- viewer. So:
--   * 'online-users' (the gateways' topic, naming every user online on any gateway) is
--     readable by signed-in users only when visibility is 'everyone';
--   * each user has a topic of their own, 'presence:<user id>', where they (and only they)
--     may track themselves, and which only people who share a chat with them, with no
--     block between them, may join to read (anyone not blocked, under 'everyone').
create table chat_private.presence_settings (
  only_row boolean primary key default true check (only_row),
  visibility text not null default 'chats' check (visibility in ('chats', 'everyone'))
);
comment on table chat_private.presence_settings is
  'Who sees whom online: chats (people who share a chat) or everyone. Gateways write it.';
insert into chat_private.presence_settings default values;

create function chat_private.presence_public() returns boolean
language sql stable security definer set search_path = '' as $$
  select coalesce((select visibility = 'everyone' from chat_private.presence_settings), false)
$$;
revoke all on function chat_private.presence_public() from public;
grant execute on function chat_private.presence_public() to authenticated, service_role;

-- May the caller see the presence of `subject`? (Never of no one: a null subject is no.)
create function chat_private.may_see_presence(subject uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select subject is not null and (
    subject = (select auth.uid())
      or (not chat_private.blocked_between(subject, (select auth.uid()))
          and (chat_private.presence_public()
               or chat_private.share_a_chat(subject, (select auth.uid())))))
$$;
revoke all on function chat_private.may_see_presence(uuid) from public;
grant execute on function chat_private.may_see_presence(uuid) to authenticated, service_role;

-- The user id of a 'presence:<uuid>' topic, or null for any other topic.
create function chat_private.presence_topic_user(topic text) returns uuid
language sql immutable set search_path = '' as $$
  select case
    when topic ~ '^presence:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then substr(topic, 10)::uuid
  end
$$;
revoke all on function chat_private.presence_topic_user(text) from public;
grant execute on function chat_private.presence_topic_user(text) to authenticated, service_role;

drop policy "signed-in users can see who is online" on realtime.messages;

create policy "signed-in users can see who is online when presence is public"
  on realtime.messages for select to authenticated
  using (
    topic = 'online-users' and extension = 'presence'
    and (select chat_private.presence_public())
  );

create policy "users can see the presence of people they may see"
  on realtime.messages for select to authenticated
  using (
    extension = 'presence'
    and topic like 'presence:%'
    and chat_private.may_see_presence(chat_private.presence_topic_user(topic))
  );

create policy "users can publish their own presence"
  on realtime.messages for insert to authenticated
  with check (
    extension = 'presence'
    and topic = 'presence:' || (select auth.uid())::text
  );

-- What a gateway writes at start: its `presence.visibility`. service_role only.
create function public.gateway_set_presence_visibility(visibility text) returns void
language sql volatile security definer set search_path = '' as $$
  update chat_private.presence_settings set visibility = gateway_set_presence_visibility.visibility
$$;
revoke all on function public.gateway_set_presence_visibility(text) from public, anon, authenticated;
grant execute on function public.gateway_set_presence_visibility(text) to service_role;

-- Of `user_ids` (the users online), those whose presence `viewer` may see (themselves
-- included): what GET /api/online-users answers, under the asking gateway's own setting
-- (`everyone`). service_role only, so no user can ask about others' blocks.
create function public.gateway_visible_presence(viewer uuid, user_ids uuid[], everyone boolean)
returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(u order by u), '[]'::jsonb)
    from unnest(user_ids) as u
   where u = viewer
      or (not chat_private.blocked_between(u, viewer)
          and (everyone or chat_private.share_a_chat(u, viewer)))
$$;
revoke all on function public.gateway_visible_presence(uuid, uuid[], boolean)
  from public, anon, authenticated;
grant execute on function public.gateway_visible_presence(uuid, uuid[], boolean) to service_role;
