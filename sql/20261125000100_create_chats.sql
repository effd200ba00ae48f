-- Conversations. A direct chat between two users is unique whichever side starts it:
-- direct_key is "<smaller uuid>:<larger uuid>".
create table public.chats (
  id uuid primary key default gen_random_uuid(),
  kind text not null default 'direct' check (kind in ('direct', 'group')),
  direct_key text unique,
  created_at timestamptz not null default now(),
  last_message_at timestamptz,
  last_message_text text,
  last_seq bigint not null default 0 check (last_seq >= 0),
  constraint chats_direct_key_matches_kind check ((kind = 'direct') = (direct_key is not null))
);
comment on table public.chats is 'One row per conversation; last_seq is the seq of its newest message.';

alter table public.chats enable row level security;

revoke all on table public.chats from anon, authenticated;
grant select on table public.chats to authenticated;
grant select, insert, update, delete on table public.chats to service_role;
