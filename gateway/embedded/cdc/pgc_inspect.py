"""Text Supabase's error messages embed: Elixir's `inspect/1` of JSON-like values and
Postgrex's rendering of a PostgreSQL error ("ERROR 22P02 (invalid_text_representation) ...")."""

from __future__ import annotations

from typing import Any

from psycopg2 import errorcodes

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\f": "\\f",
    "\v": "\\v",
    "\b": "\\b",
    "\a": "\\a",
    "\x1b": "\\e",
}


def inspect(value: Any) -> str:
    """Elixir's inspect for strings, numbers, booleans, nil, lists, tuples and string-keyed maps
    (single line; Elixir itself wraps pretty-printed terms past 80 columns)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(inspect(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        # Small maps list their keys in term order: for strings, byte order.
        keys = sorted(value, key=lambda k: str(k).encode())
        return "%{" + ", ".join(f"{inspect(k)} => {inspect(value[k])}" for k in keys) + "}"
    return _string(str(value))


def _string(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "#" and text[i + 1 : i + 2] == "{":
            out.append("\\#")
        else:
            out.append(_ESCAPES.get(ch, ch))
    return '"' + "".join(out) + '"'


def postgrex_message(sqlstate: str, message: str, *, detail: str | None = None) -> str:
    """Exception.message/1 of a Postgrex.Error for a failed statement."""
    try:
        name = errorcodes.lookup(sqlstate).lower()
    except KeyError:
        name = "unknown"
    text = f"ERROR {sqlstate} ({name}) {message}"
    return text + f"\n\n{detail}" if detail else text


def raised(message: str) -> str:
    """A `raise exception` from Supabase's subscription trigger, as Postgrex renders it."""
    return postgrex_message("P0001", message)
