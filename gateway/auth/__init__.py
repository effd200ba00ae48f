"""Who a client is: Supabase Auth access tokens verified (HS256 secret or JWKS), and the
watch that closes a socket when its token expires."""
