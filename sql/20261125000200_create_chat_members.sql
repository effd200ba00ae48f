-- Who belongs to which chat, and how far each member has read.
create table public.chat_members (
  chat_id uuid not null references public.chats (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  last_read_seq bigint not null default 0 check (last_read_seq >= 0),
  joined_at timestamptz not null default now(),
  primary key (chat_id, user_id)
);
comment on table public.chat_members is 'Membership of users in chats, with each member''s read marker.';

-- The primary key indexes chat_id; policies also look members up by user_id.
create index chat_members_user_id_idx on public.chat_members (user_id);

alter table public.chat_members enable row level security;

revoke all on table public.chat_members from anon, authenticated;
grant select on table public.chat_members to authenticated;
grant update (last_read_seq) on table public.chat_members to authenticated;
grant select, insert, update, delete on table public.chat_members to service_role;
