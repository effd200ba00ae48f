"""The embedded, Supabase-compatible stack: PostgreSQL plus a local Data API, Auth and
Realtime server. Only the launcher starts it; the gateway's runtime never imports it."""
