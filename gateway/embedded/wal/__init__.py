"""Logical replication: read committed changes from the WAL (pgoutput)."""
