-- RLS on every table, chat_private's included: nobody reads or writes presence_settings
-- directly (no policy); the security-definer functions of 20261204100300 read it and the
-- gateways set it through them as service_role.
alter table chat_private.presence_settings enable row level security;
