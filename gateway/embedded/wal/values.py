"""Turn PostgreSQL's text output of a column into the JSON value Supabase sends for it.

Supabase's `realtime.cast(text, regtype)` is `to_jsonb(text::type)`; this reproduces that
from the type name alone: numbers, booleans, JSON, ISO 8601 timestamps, (nested) arrays.
Everything else (uuid, text, oid, money, time, timetz, enums, ranges, ...) stays a string,
as to_jsonb has it. Not reproduced: composite (row type) columns, an object in to_jsonb,
stay their text. `column_value` converts a domain as its base type, as to_jsonb does.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.embedded.wal.changes import Column

_INTEGERS = frozenset({"int2", "int4", "int8"})
_NUMBERS = frozenset({"float4", "float8", "numeric"})
_JSON = frozenset({"json", "jsonb"})
_TIMESTAMPS = frozenset({"timestamp", "timestamptz"})
# Arrays PostgreSQL prints space-separated, without braces.
_VECTORS = {"int2vector": "int2", "oidvector": "oid"}
# Numbers JSON cannot hold; to_jsonb turns them into strings.
_NOT_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})

# PostgreSQL's ISO output (DateStyle ISO): '2026-11-25 19:40:00.123456+00', maybe ' BC'.
_TIMESTAMP = re.compile(
    r"(?P<date>\d{4,}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"(?P<zone>[+-]\d\d(?::\d\d){0,2})?(?P<era> BC)?"
)
# An array's explicit bounds, printed when they do not start at 1: '[0:2]={...}'.
_BOUNDS = re.compile(r"(?:\[-?\d+:-?\d+\])+=")


def column_value(column: Column, text: str | None) -> Any:
    """`to_json_value` for a column's value, domains converted as their base type."""
    return to_json_value(column.base_type_name or column.type_name, text)


def json_row(columns: tuple[Column, ...], row: dict[str, str | None]) -> dict[str, Any]:
    """A RowChange's `new` or `old` with JSON values: what Supabase sends as `record`."""
    return {c.name: column_value(c, row[c.name]) for c in columns if c.name in row}


def to_json_value(type_name: str, text: str | None) -> Any:
    """The JSON value `to_jsonb(text::type_name)` gives, as Python data; None for NULL.

    `text` must be PostgreSQL's output with DateStyle ISO (the WAL stream asks for it).
    """
    if text is None:
        return None
    if type_name.startswith("_") and text[:1] in ("{", "["):
        element_type = type_name[1:]
        return _convert_array(
            element_type, parse_array(text, ";" if element_type == "box" else ",")
        )
    if type_name in _VECTORS:
        return [to_json_value(_VECTORS[type_name], item) for item in text.split()]
    return _scalar(type_name, text)


def _convert_array(element_type: str, items: list[Any]) -> list[Any]:
    return [
        _convert_array(element_type, item)
        if isinstance(item, list)
        else to_json_value(element_type, item)
        for item in items
    ]


def _scalar(type_name: str, text: str) -> Any:
    if type_name in _INTEGERS:
        return int(text)
    if type_name in _NUMBERS:
        return _number(text)
    if type_name == "bool":
        return text == "t"
    if type_name in _JSON:
        return json.loads(text)
    if type_name in _TIMESTAMPS:
        return _iso_timestamp(text)
    return text


def _number(text: str) -> Any:
    """jsonb keeps a number as numeric and prints it in plain notation: 1e+100 becomes
    1000…0 and 1e-07 becomes 0.0000001; a client's JSON parser then makes it an int or a
    float. Going through the same plain notation gives the same Python value."""
    if text in _NOT_FINITE:
        return text
    try:
        plain = format(Decimal(text), "f")
        return json.loads(plain)
    except (InvalidOperation, ValueError):
        # Beyond Python's int-from-string digit limit: the nearest float will do.
        return float(text)


def _iso_timestamp(text: str) -> str:
    """to_jsonb writes timestamps as XSD dates: a 'T' between date and time, and a zone
    offset with minutes (+00:00 where the text output has +00). infinity stays as is."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return text
    zone = match["zone"] or ""
    if len(zone) == 3:
        zone += ":00"
    return f"{match['date']}T{match['time']}{zone}{match['era'] or ''}"


def parse_array(text: str, delimiter: str = ",") -> list[Any]:
    """Parse an array literal as PostgreSQL prints it into nested lists of str | None.

    Handles quoting, backslash escapes, NULL (unquoted only), nesting and explicit bounds.
    """
    bounds = _BOUNDS.match(text)
    parser = _ArrayParser(text, bounds.end() if bounds else 0, delimiter)
    result = parser.parse_list()
    if parser.pos != len(text):
        raise ValueError("trailing characters after array literal")
    return result


class _ArrayParser:
    def __init__(self, text: str, pos: int, delimiter: str) -> None:
        self.text = text
        self.pos = pos
        self.delimiter = delimiter

    def _peek(self) -> str:
        if self.pos >= len(self.text):
            raise ValueError("array literal ends early")
        return self.text[self.pos]

    def parse_list(self) -> list[Any]:
        if self._peek() != "{":
            raise ValueError("array literal must start with '{'")
        self.pos += 1
        items: list[Any] = []
        if self._peek() == "}":
            self.pos += 1
            return items
        while True:
            items.append(self._element())
            char = self._peek()
            self.pos += 1
            if char == "}":
                return items
            if char != self.delimiter:
                raise ValueError(f"unexpected {char!r} in array literal")

    def _element(self) -> Any:
        char = self._peek()
        if char == "{":
            return self.parse_list()
        if char == '"':
            return self._quoted()
        return self._unquoted()

    def _quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            char = self._peek()
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                char = self._peek()
                self.pos += 1
            out.append(char)

    def _unquoted(self) -> str | None:
        out: list[str] = []
        while (char := self._peek()) not in (self.delimiter, "}"):
            if char == "\\":
                self.pos += 1
                char = self._peek()
            out.append(char)
            self.pos += 1
        value = "".join(out).strip()
        return None if value.upper() == "NULL" else value
