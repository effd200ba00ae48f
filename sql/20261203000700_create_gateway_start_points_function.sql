-- Start points of users coming online, many users per call: for each of their chats,
-- where it stands (last_seq) and, for a direct chat, the other member. A gateway fixes a
-- socket's start point with this before it answers the socket (the user's token was
-- verified by the gateway); batching makes a burst of connects a handful of queries
-- instead of one each. One jsonb value of compact rows [user_id, chat_id, last_seq,
-- peer_id], so no max-rows limit cuts it short. service_role only.
create function public.gateway_start_points(user_ids uuid[])
returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_array(me.user_id, c.id, c.last_seq, peer.user_id)),
                  '[]'::jsonb)
    from public.chat_members me
    join public.chats c on c.id = me.chat_id
    left join public.chat_members peer
      on c.direct_key is not null and peer.chat_id = c.id and peer.user_id <> me.user_id
   where me.user_id = any(user_ids)
$$;
comment on function public.gateway_start_points(uuid[]) is
  'Where each chat of these users stands, for the gateways'' start points.';

revoke all on function public.gateway_start_points(uuid[]) from public, anon, authenticated;
grant execute on function public.gateway_start_points(uuid[]) to service_role;
