-- Who is online: gateways (service_role) track presence on the private topic
-- "online-users"; any signed-in user may read it. No insert policy: users cannot track.
create policy "signed-in users can see who is online"
  on realtime.messages for select to authenticated
  using (topic = 'online-users' and extension = 'presence');
