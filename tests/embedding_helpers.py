"""A small blog schema for the resource-embedding tests, made the way Supabase's docs make
tables (no grant: Supabase's default privileges; RLS with policies), and its rows."""

from __future__ import annotations

from dataclasses import dataclass

from tests.conftest import EmbeddedStack
from tests.rest_helpers import User, create_user, run_sql

BLOG_SQL = """
create table public.profiles (
  id uuid primary key references auth.users (id),
  username text not null unique
);
create table public.posts (
  id bigint primary key,
  author_id uuid not null references public.profiles (id),
  title text not null,
  published boolean not null default false
);
create table public.comments (
  id bigint primary key,
  post_id bigint not null references public.posts (id),
  author_id uuid not null references public.profiles (id),
  body text not null
);
-- One-to-one: a profile has at most one settings row (its key is the foreign key).
create table public.settings (
  profile_id uuid primary key references public.profiles (id),
  theme text not null
);
-- Two foreign keys to one table: embedding `addresses` from `orders` is ambiguous.
create table public.addresses (id bigint primary key, city text not null);
create table public.orders (
  id bigint primary key,
  billing_address_id bigint,
  shipping_address_id bigint,
  constraint billing foreign key (billing_address_id) references public.addresses (id),
  constraint shipping foreign key (shipping_address_id) references public.addresses (id)
);
alter table public.profiles enable row level security;
alter table public.posts enable row level security;
alter table public.comments enable row level security;
create policy "Profiles are public." on public.profiles for select using (true);
create policy "Published posts are public." on public.posts for select using (published);
create policy "Authors see their drafts." on public.posts for select to authenticated
  using (author_id = (select auth.uid()));
create policy "Authors write posts." on public.posts for insert to authenticated
  with check (author_id = (select auth.uid()));
create policy "Comments are public." on public.comments for select using (true);
"""


@dataclass(frozen=True)
class Blog:
    alice: User
    bob: User
    carol: User  # has a profile and nothing else


async def blog(embedded: EmbeddedStack) -> Blog:
    """The schema and its rows: alice wrote posts 1 (published) and 2 (a draft), bob post 3
    (published); comments 10 (bob on 1), 11 (alice on 1), 12 (alice on 3)."""
    alice, bob, carol = [await create_user(embedded, name) for name in ("alice", "bob", "carol")]
    await run_sql(embedded, BLOG_SQL)
    await run_sql(
        embedded,
        "insert into profiles values ($1, 'alice'), ($2, 'bob'), ($3, 'carol') returning id",
        *(user.id for user in (alice, bob, carol)),
    )
    await run_sql(
        embedded,
        "insert into posts values (1, $1, 'Hello', true), (2, $1, 'Draft', false),"
        " (3, $2, 'Bob''s', true) returning id",
        alice.id,
        bob.id,
    )
    await run_sql(
        embedded,
        "insert into comments values (10, 1, $2, 'nice'), (11, 1, $1, 'thanks'),"
        " (12, 3, $1, 'welcome') returning id",
        alice.id,
        bob.id,
    )
    await run_sql(
        embedded,
        "insert into settings values ($1, 'dark') returning profile_id;",
        alice.id,
    )
    await run_sql(
        embedded,
        "insert into addresses values (1, 'Lima'), (2, 'Quito');"
        " insert into orders values (100, 1, 2);",
    )
    return Blog(alice, bob, carol)
