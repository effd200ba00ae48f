"""Request bodies of writes and RPC calls, checked the way PostgREST's Payload does: the
JSON text to pass on as one parameter, whether it is one object, and which keys it sets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gateway.embedded.rest.errors import invalid_body

_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Body:
    text: str  # JSON handed to PostgreSQL as it came (or as PostgREST normalises it)
    is_object: bool
    keys: tuple[str, ...]


def _mime(content_type: str | None) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()


def _looks_like_object(text: str) -> bool:
    return text.lstrip(_WHITESPACE)[:1] == "{"


def _keys_of(value: object) -> tuple[str, ...] | None:
    """Keys of an object, or of an array of objects that all have the same keys."""
    if isinstance(value, dict):
        return tuple(value)
    assert isinstance(value, list) and value
    first = value[0]
    if not isinstance(first, dict):
        return None
    expected = set(first)
    if all(isinstance(row, dict) and set(row) == expected for row in value):
        return tuple(first)
    return None


def parse_body(
    raw: bytes, content_type: str | None, columns: tuple[str, ...] | None, *, rpc: bool
) -> Body:
    """`columns` is ?columns=: then the body is passed on unparsed and only those keys count."""
    mime = _mime(content_type)
    if mime == "application/x-www-form-urlencoded":
        fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return Body(json.dumps(fields), True, tuple(fields))
    if mime != "application/json" and not mime.startswith("application/vnd.pgrst"):
        raise invalid_body(f"Content-Type not acceptable: {mime}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_body("Empty or invalid json") from None
    if not text.strip() and rpc:
        text = "{}"
    if columns is not None:
        return Body(text, _looks_like_object(text), columns)
    try:
        value = json.loads(text)
    except ValueError:
        raise invalid_body("Empty or invalid json") from None
    if isinstance(value, dict) or (isinstance(value, list) and value):
        keys = _keys_of(value)
        if keys is None:
            raise invalid_body("All object keys must match")
        return Body(text, isinstance(value, dict), keys)
    # An empty array, or any other JSON value, writes nothing (PostgREST truncates it to []).
    return Body("[]", False, ())
