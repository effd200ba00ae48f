"""The discriminated server-message adapter (gateway/realtime_parse.py) accepts and rejects
exactly the frames realtime-py's own adapter does, into equal models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from realtime._async import client as rt_client
from realtime.message import ServerMessageAdapter

from gateway.supabase import realtime_parse

ROW = {"id": "m1", "chat_id": "c1", "seq": 7, "sender_id": "u1", "message_text": "hi"}
META = {"phx_ref": "F1", "user_id": "u1"}

VALID: dict[str, dict[str, Any]] = {
    "broadcast": {
        "event": "broadcast",
        "topic": "realtime:user:u1",
        "ref": None,
        "payload": {"type": "broadcast", "event": "message", "payload": ROW},
    },
    "join reply": {
        "event": "phx_reply",
        "topic": "realtime:user:u1",
        "ref": "1",
        "payload": {"status": "ok", "response": {"postgres_changes": []}},
    },
    "error reply": {
        "event": "phx_reply",
        "topic": "realtime:user:u1",
        "ref": "2",
        "payload": {"status": "error", "response": {"reason": "Unauthorized"}},
    },
    "heartbeat reply": {
        "event": "phx_reply",
        "topic": "phoenix",
        "ref": "3",
        "payload": {"status": "ok", "response": {}},
    },
    "system": {
        "event": "system",
        "topic": "realtime:user:u1",
        "ref": None,
        "payload": {
            "channel": "user:u1",
            "extension": "postgres_changes",
            "message": "Subscribed to PostgreSQL",
            "status": "ok",
        },
    },
    "presence state": {
        "event": "presence_state",
        "topic": "realtime:online-users:0",
        "ref": None,
        "payload": {"u1": {"metas": [META]}},
    },
    "presence diff": {
        "event": "presence_diff",
        "topic": "realtime:online-users:0",
        "ref": None,
        "payload": {"joins": {"u1": {"metas": [META]}}, "leaves": {}},
    },
    "postgres changes": {
        "event": "postgres_changes",
        "topic": "realtime:public:messages",
        "ref": None,
        "payload": {
            "ids": [1],
            "data": {
                "schema": "public",
                "table": "messages",
                "commit_timestamp": "2026-11-26T00:00:00Z",
                "type": "INSERT",
                "record": ROW,
                "old_record": {},
                "columns": [{"name": "id", "type": "uuid"}],
                "errors": None,
            },
        },
    },
    "channel error": {"event": "phx_error", "topic": "realtime:x", "ref": "4", "payload": {}},
    "channel close": {"event": "phx_close", "topic": "realtime:x", "ref": None, "payload": {}},
}

INVALID: dict[str, str] = {
    "unknown event": json.dumps({"event": "nope", "topic": "t", "ref": None, "payload": {}}),
    "no event": json.dumps({"topic": "t", "ref": None, "payload": {}}),
    "broadcast without payload": json.dumps({"event": "broadcast", "topic": "t", "ref": None}),
    "reply of unknown status": json.dumps(
        {"event": "phx_reply", "topic": "t", "ref": "1", "payload": {"status": "maybe"}}
    ),
    "not an object": "[1, 2]",
    "not JSON": "{",
}


@pytest.fixture(scope="module")
def fast() -> Any:
    adapter = realtime_parse.discriminated_adapter()
    assert adapter is not None, "realtime-py's union no longer has distinct event literals"
    return adapter


@pytest.mark.parametrize("name", list(VALID))
def test_valid_frames_parse_into_the_same_model(fast: Any, name: str) -> None:
    text = json.dumps(VALID[name])
    ours, theirs = fast.validate_json(text), ServerMessageAdapter.validate_json(text)
    assert type(ours) is type(theirs)
    assert ours == theirs


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_frames_are_rejected_by_both(fast: Any, name: str) -> None:
    with pytest.raises(ValidationError):
        ServerMessageAdapter.validate_json(INVALID[name])
    with pytest.raises(ValidationError):
        fast.validate_json(INVALID[name])


def test_install_makes_realtime_py_use_it() -> None:
    module = vars(rt_client)  # realtime-py does not export the name it parses with
    original = module["ServerMessageAdapter"]  # ours already, if a gateway ran
    try:
        assert realtime_parse.install()
        installed = module["ServerMessageAdapter"]
        assert installed is not ServerMessageAdapter  # realtime-py's own
        assert installed is realtime_parse.discriminated_adapter()
        assert installed is not None
        parsed = installed.validate_json(json.dumps(VALID["broadcast"]))
        assert parsed == ServerMessageAdapter.validate_json(json.dumps(VALID["broadcast"]))
    finally:
        module["ServerMessageAdapter"] = original


def test_installed_models_show_no_payload_in_their_repr() -> None:
    """realtime-py formats every parsed frame for its debug log; a message body must never
    reach a log (and the full repr cost CPU on every frame)."""
    realtime_parse.install()
    parsed = ServerMessageAdapter.validate_json(json.dumps(VALID["broadcast"]))
    shown = repr(parsed)
    assert "realtime:user:u1" in shown and "broadcast" in shown
    assert "message_text" not in shown and "sender_id" not in shown
