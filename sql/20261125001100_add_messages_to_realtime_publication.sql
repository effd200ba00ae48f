-- Postgres Changes for messages (RLS decides who receives each row).
alter publication supabase_realtime add table public.messages;
