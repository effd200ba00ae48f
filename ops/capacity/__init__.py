"""Capacity model: how many gateways, and which Supabase quota bites first, from 10,000 to
1,000,000 concurrent users (`python -m ops.capacity`; docs/SCALING.md shows its output)."""
