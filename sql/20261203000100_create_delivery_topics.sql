-- Gateways hold a fixed set of private Realtime topics, chats:0 … chats:<n-1>, whatever
-- the number of online users. Each message is published once on its chat's topic, with
-- its member ids, and every gateway routes it to its own sockets of those members.
-- The database alone decides which topic a chat uses; gateways ask which topics exist.
create function chat_private.delivery_shards() returns integer
language sql immutable set search_path = '' as $$
  select 8
$$;
comment on function chat_private.delivery_shards() is
  'How many chats:<k> topics gateways hold; change it with a new migration, then restart gateways.';

create function chat_private.delivery_topic(chat uuid) returns text
language sql immutable set search_path = '' as $$
  select 'chats:' || (
    (hashtextextended(chat::text, 0) % chat_private.delivery_shards()
      + chat_private.delivery_shards()) % chat_private.delivery_shards()
  )::text
$$;
comment on function chat_private.delivery_topic(uuid) is 'The gateways'' topic of a chat.';

revoke all on function chat_private.delivery_shards() from public;
revoke all on function chat_private.delivery_topic(uuid) from public;

-- What a gateway subscribes to at start-up. Only service_role: no user needs it, and no
-- user may join these topics (no policy on realtime.messages admits them).
create function public.gateway_delivery_topics() returns setof text
language sql stable security definer set search_path = '' as $$
  select 'chats:' || k::text from generate_series(0, chat_private.delivery_shards() - 1) as k
$$;
comment on function public.gateway_delivery_topics() is 'The private topics every gateway holds.';

revoke all on function public.gateway_delivery_topics() from public, anon, authenticated;
grant execute on function public.gateway_delivery_topics() to service_role;
