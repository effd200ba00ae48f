"""A postgres_changes binding parsed as Supabase parses it (subscriptions.ex): event, the
schema/table/filter shapes, `select`, the filter grammar, and Supabase's error messages."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.embedded.cdc.pgc_inspect import inspect

OPERATORS = frozenset(
    {"eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch"}
    | {"isdistinct"}
)
ACTIONS = frozenset({"INSERT", "UPDATE", "DELETE"})

NO_PARAMS = (
    "No subscription params provided. Please provide at least a `schema` or `table` to "
    "subscribe to: "
)
WILDCARD_SELECT = (
    "Column selection is not supported for wildcard subscriptions. Provide an explicit "
    "schema and table name."
)
SELECT_NOT_A_LIST = (
    'Error parsing `select` params: expected a list of column name strings, e.g. select: ["col1",'
    ' "col2"]'
)


class BindingError(Exception):
    """A binding Supabase refuses before touching the database (`malformed_subscription_params`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """One `column=[not.]op.value` condition; `in` values are kept as an array literal."""

    column: str
    op: str
    value: str
    negate: bool


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """What one binding subscribes to; `schema`/`table` may be `*`, matched like SQL LIKE."""

    action: str
    schema: str
    table: str
    filters: tuple[FilterSpec, ...]
    select: tuple[str, ...] | None

    def log_params(self) -> str:
        """Supabase's params_to_log, as it appears inside its error messages."""
        filters = [(f.column, f.op, f.value, f.negate) for f in self.filters]
        select = None if self.select is None else list(self.select)
        return (
            f"event: {self.action}, schema: {self.schema}, table: {self.table}, "
            f"filters: {inspect(filters)}, select: {inspect(select)}"
        )

    def covers(self, schema: str, table: str) -> bool:
        return _like(self.schema).fullmatch(schema) is not None and (
            _like(self.table).fullmatch(table) is not None
        )


@functools.lru_cache(maxsize=1024)
def _like(pattern: str) -> re.Pattern[str]:
    """`name like (case p when '*' then '%' else p end) escape ''`: % and _ stay wildcards."""
    if pattern == "*":
        return re.compile(".*", re.DOTALL)
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def parse_binding(params: Mapping[str, Any]) -> BindingSpec:
    """parse_subscription_params: the binding's shape decides schema, table and filters."""
    action = _action(params.get("event"))
    select = _select(params)
    schema, table, filt = params.get("schema"), params.get("table"), params.get("filter")
    if isinstance(schema, str) and isinstance(table, str) and isinstance(filt, str):
        try:
            filters = parse_filters(filt)
        except BindingError as err:
            raise BindingError(f"Error parsing `filter` params: {err.message}") from None
        return _checked(action, schema, table, filters, select)
    if isinstance(schema, str) and isinstance(table, str) and "filter" not in params:
        return _checked(action, schema, table, (), select)
    if isinstance(schema, str) and "table" not in params and "filter" not in params:
        return _checked(action, schema, "*", (), select)
    if isinstance(table, str) and "schema" not in params and "filter" not in params:
        return _checked(action, "public", table, (), select)
    if "user_token" in params or "auth_token" in params:
        raise BindingError(NO_PARAMS + "<redacted>")
    raise BindingError(NO_PARAMS + inspect(dict(params)))


def _action(event: Any) -> str:
    if isinstance(event, str) and event.upper() in ACTIONS:
        return event.upper()
    return "*"


def _select(params: Mapping[str, Any]) -> tuple[str, ...] | None:
    cols = params.get("select")
    if isinstance(cols, str):
        raise BindingError(SELECT_NOT_A_LIST)
    if isinstance(cols, list):
        names = tuple(c for c in cols if isinstance(c, str))
        return names or None
    return None


def _checked(
    action: str,
    schema: str,
    table: str,
    filters: tuple[FilterSpec, ...],
    select: tuple[str, ...] | None,
) -> BindingSpec:
    if select is not None and "*" in (schema, table):
        raise BindingError(WILDCARD_SELECT)
    return BindingSpec(action, schema, table, filters, select)


def parse_filters(text: str) -> tuple[FilterSpec, ...]:
    """The filter grammar: comma = AND outside parentheses and quotes; blank = no filter."""
    trimmed = text.strip()
    if not trimmed:
        return ()
    return tuple(_segment(part) for part in _split_top_level(trimmed))


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, prev = 0, False, ""
    i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if quoted:
            if ch == "\\" and i < len(text):
                current += (ch, text[i])
                prev = text[i]
                i += 1
                continue
            quoted = ch != '"'
        elif ch == '"' and prev in (".", "(", ","):
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current, prev = [], ""
            continue
        current.append(ch)
        prev = ch
    parts.append("".join(current))
    return parts


def _segment(segment: str) -> FilterSpec:
    trimmed = segment.strip()
    if not trimmed:
        raise BindingError("filter must not contain empty segments (check for extra commas)")
    column, eq, rest = trimmed.partition("=")
    if not eq:
        raise BindingError(inspect([trimmed]))
    negate = rest.startswith("not.")
    op_value = rest.removeprefix("not.")
    op, dot, value = op_value.partition(".")
    if not dot:
        raise BindingError(inspect([op_value]))
    if op not in OPERATORS:
        raise BindingError(inspect([op, value]))
    return FilterSpec(column, op, _format_value(op, value), negate)


def _format_value(op: str, value: str) -> str:
    if op == "in":
        if len(value) >= 2 and value.startswith("(") and value.endswith(")"):
            return "{" + value[1:-1] + "}"
        raise BindingError("`in` filter value must be wrapped by parentheses")
    return _unquote(value)


def _unquote(value: str) -> str:
    """A value wholly in double quotes loses them and its backslash escapes; else verbatim."""
    if not value.startswith('"'):
        return value
    out: list[str] = []
    i = 1
    while i < len(value):
        ch = value[i]
        if ch == '"':
            return "".join(out) if i == len(value) - 1 else value
        if ch == "\\" and i + 1 < len(value):
            i += 1
            ch = value[i]
        out.append(ch)
        i += 1
    return value
