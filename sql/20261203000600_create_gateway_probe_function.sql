-- A round trip through the change feed: the database publishes `probe` on a gateway topic
-- the way it publishes messages, so a gateway that hears its own nonce back knows the
-- whole path (commit → Realtime's replication → its socket) moves, and how fast.
-- service_role only, and only onto the gateways' own topics.
create function public.gateway_probe(topic text, nonce text) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if topic not in (select public.gateway_delivery_topics()) then
    raise exception 'not a gateway topic' using errcode = 'PT400';
  end if;
  perform realtime.send(jsonb_build_object('nonce', nonce), 'probe', topic, true);
end;
$$;
comment on function public.gateway_probe(text, text) is
  'Publish a probe on a gateway topic, through the change feed like a message.';

revoke all on function public.gateway_probe(text, text) from public, anon, authenticated;
grant execute on function public.gateway_probe(text, text) to service_role;
