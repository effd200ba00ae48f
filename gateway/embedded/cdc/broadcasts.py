"""Broadcast from Database: a row inserted into realtime.messages (by realtime.send,
realtime.broadcast_changes or a plain insert) becomes a user broadcast to its topic.

Just before the fan-out, the `drop_broadcast` fault hook (gateway.embedded.faults: set only
in-process, by a test holding the app) may drop the message for every subscriber.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.embedded.faults import FaultHooks
from gateway.embedded.realtime.hub import Hub
from gateway.embedded.wal.changes import RowChange

EXTENSION = "broadcast"


def is_message_insert(change: RowChange) -> bool:
    return change.kind == "INSERT" and change.schema == "realtime" and change.table == "messages"


def deliver(hub: Hub, change: RowChange, faults: FaultHooks) -> bool:
    """Deliver one inserted realtime.messages row; False if it is not a broadcast."""
    row = change.new or {}
    topic, event = row.get("topic"), row.get("event")
    if row.get("extension") != EXTENSION or not topic or event is None:
        return False
    private = row.get("private") == "t"
    meta = {"id": row["id"]} if row.get("id") else None
    payload = row.get("payload")
    data: str | bytes
    if payload is not None:
        # jsonb's text output is valid JSON: forwarded as the raw payload, as Supabase does.
        data = payload
    else:
        binary = row.get("binary_payload")
        if binary is None or not binary.startswith("\\x"):
            return False
        data = bytes.fromhex(binary[2:])
    drop = faults.drop_broadcast
    if drop is not None and drop(topic, event, _as_object(payload)):
        return True
    hub.deliver_user_broadcast(topic, event, data, private=private, meta=meta)
    return True


def _as_object(payload: str | None) -> dict[str, Any]:
    value = json.loads(payload) if payload is not None else None
    return value if isinstance(value, dict) else {}
