-- Messages. seq is assigned by a trigger: per chat, gapless and strictly increasing.
-- (sender_id, client_msg_id) makes sends idempotent.
create table public.messages (
  id bigint generated always as identity primary key,
  chat_id uuid not null references public.chats (id) on delete cascade,
  seq bigint not null,
  sender_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  body text not null check (char_length(body) between 1 and 32768),
  client_msg_id text check (client_msg_id is null or char_length(client_msg_id) between 1 and 128),
  created_at timestamptz not null default now(),
  constraint messages_chat_id_seq_key unique (chat_id, seq),
  constraint messages_sender_id_client_msg_id_key unique (sender_id, client_msg_id)
);
comment on table public.messages is 'Chat messages; read history by (chat_id, seq).';

alter table public.messages enable row level security;

revoke all on table public.messages from anon, authenticated;
grant select on table public.messages to authenticated;
grant insert (chat_id, sender_id, body, client_msg_id) on table public.messages to authenticated;
grant select, insert, update, delete on table public.messages to service_role;
