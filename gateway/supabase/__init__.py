"""Adapters to Supabase, through its official clients: the Data API (store), the supervised
Realtime sockets, the delivery feed of fixed topics, and presence (online users)."""
