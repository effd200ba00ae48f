-- For default_privileges.test.mjs: a table made exactly as Supabase's docs make one (create
-- table, enable RLS, policies) with no grant: Supabase's default privileges must do the rest.
create table public.countries (
  id bigserial primary key,
  name text not null,
  added_by uuid default auth.uid() references auth.users (id)
);
alter table public.countries enable row level security;
create policy "Countries are public." on public.countries for select using (true);
create policy "Signed-in users add countries as themselves." on public.countries
  for insert to authenticated with check ((select auth.uid()) = added_by);
alter publication supabase_realtime add table public.countries;
