"""Broadcast from Database: a row inserted into realtime.messages (by realtime.send,
realtime.broadcast_changes or a plain insert) becomes a user broadcast to its topic."""

from __future__ import annotations

from gateway.embedded.realtime.hub import Hub
from gateway.embedded.wal.changes import RowChange

EXTENSION = "broadcast"


def is_message_insert(change: RowChange) -> bool:
    return change.kind == "INSERT" and change.schema == "realtime" and change.table == "messages"


def deliver(hub: Hub, change: RowChange) -> bool:
    """Deliver one inserted realtime.messages row; False if it is not a broadcast."""
    row = change.new or {}
    topic, event = row.get("topic"), row.get("event")
    if row.get("extension") != EXTENSION or not topic or event is None:
        return False
    private = row.get("private") == "t"
    meta = {"id": row["id"]} if row.get("id") else None
    payload = row.get("payload")
    if payload is not None:
        # jsonb's text output is valid JSON: forwarded as the raw payload, as Supabase does.
        hub.deliver_user_broadcast(topic, event, payload, private=private, meta=meta)
        return True
    binary = row.get("binary_payload")
    if binary is not None and binary.startswith("\\x"):
        data = bytes.fromhex(binary[2:])
        hub.deliver_user_broadcast(topic, event, data, private=private, meta=meta)
        return True
    return False
