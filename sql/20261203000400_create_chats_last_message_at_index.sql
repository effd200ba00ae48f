-- The gateways' position check looks chats up by when their last message came.
create index chats_last_message_at_idx on public.chats (last_message_at);
