-- For data_api_embedding.test.mjs: the Supabase docs' joins example (guides/database/
-- joins-and-nesting: countries and cities) and PostgREST's ambiguous one (orders with two
-- foreign keys to addresses), made without grants; RLS hides the cities marked secret.
create table public.countries (
  id bigint primary key generated always as identity,
  name text not null
);
create table public.cities (
  id bigint primary key generated always as identity,
  name text not null,
  country_id bigint references public.countries (id),
  secret boolean not null default false
);
alter table public.countries enable row level security;
alter table public.cities enable row level security;
create policy "Countries are public." on public.countries for select using (true);
create policy "Cities are public unless secret." on public.cities for select using (not secret);

create table public.addresses (id bigint primary key, city text not null);
create table public.orders (
  id bigint primary key,
  billing bigint constraint billing references public.addresses (id),
  shipping bigint constraint shipping references public.addresses (id)
);

insert into public.countries (name) values ('Chile'), ('Peru'), ('Atlantis');
insert into public.cities (name, country_id, secret) values
  ('Santiago', 1, false), ('Valparaiso', 1, false), ('Lima', 2, false), ('Hidden', 2, true);
insert into public.addresses values (1, 'Lima'), (2, 'Quito');
insert into public.orders values (100, 1, 2);
