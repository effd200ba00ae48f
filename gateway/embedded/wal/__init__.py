"""Logical replication: read committed changes from the WAL (pgoutput) as Transactions.

Modules: changes (what is yielded), stream (WalStream: slot, reader thread, asyncio side),
values (text values to Supabase's JSON), pgoutput (the pure decoder), assembler (messages
to transactions), reader (the replication thread), slots, catalog and typenames (SQL side).
"""
