"""Filter verdicts on a changed row with Supabase's check_equality_op semantics.

Supabase casts both sides to the column's type in SQL for every filter of every subscriber.
Where Python reproduces PostgreSQL exactly (integers, numeric, float8, bool, uuid, and
equality on text/varchar under a deterministic collation) the check runs here: bounded work,
no database, no backtracking. Everything else (like, regexes, timestamps, other types, text
ordering) is left for `FilterSession`, which runs one subscriber's checks in SQL under a time
budget; a filter is only sent there for rows the subscriber may see (see pgc_deliver). A NULL
result counts as false, negated or not, as in Supabase.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from gateway.embedded.cdc.pgc_params import FilterSpec
from gateway.embedded.wal.values import parse_array

Row = Mapping[str, str | None]
Native = Callable[[str | None, "FilterRun"], bool | None]
SqlCheck = tuple[str, str, bool, str | None, str]  # type, op, negate, row value, filter value

_SYMBOLS = {
    "eq": "=",
    "neq": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
}
_ORDERING = frozenset({"lt", "lte", "gt", "gte"})
_PATTERNS = frozenset({"like", "ilike", "match", "imatch"})
_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def _number_key(value: Decimal | float) -> tuple[int, Decimal | float]:
    # PostgreSQL's NaN equals itself and sorts above every other number.
    return (1, 0) if value != value else (0, value)


def _numeric(text: str) -> tuple[int, Decimal | float]:
    try:
        return _number_key(Decimal(text.strip()))
    except InvalidOperation:
        raise ValueError(text) from None


def _float8(text: str) -> tuple[int, Decimal | float]:
    return _number_key(float(text))


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "int2": int,
    "int4": int,
    "int8": int,
    "numeric": _numeric,
    "float8": _float8,
    "bool": _bool,
    "uuid": uuid.UUID,
}
_EQUALITY_ONLY = frozenset({"text", "varchar"})
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A filter bound to its column's type: `native` decides here, else SQL decides."""

    spec: FilterSpec
    type_sql: str
    native: Native | None

    def sql_check(self, value: str | None) -> SqlCheck:
        return (self.type_sql, self.spec.op, self.spec.negate, value, self.spec.value)


def compile_filter(
    spec: FilterSpec, typname: str, type_sql: str, deterministic: bool
) -> CompiledFilter:
    return CompiledFilter(spec, type_sql, _native(spec, typname, deterministic))


def _native(spec: FilterSpec, typname: str, deterministic: bool) -> Native | None:
    if spec.op == "is":
        return _is(spec)
    if spec.op in _PATTERNS:
        return None
    parse = _PARSERS.get(typname)
    if parse is None and typname in _EQUALITY_ONLY and deterministic:
        if spec.op in _ORDERING:
            return None  # text order depends on the collation: SQL decides
        parse = str
    if parse is None:
        return None
    try:
        if spec.op == "in":
            items = parse_array(spec.value)
            if any(isinstance(item, list) for item in items):
                return None
            targets = frozenset(parse(item) for item in items if item is not None)
            return _in(parse, targets, None in items, spec.negate)
        target = parse(spec.value)
    except (ValueError, ArithmeticError):
        return None
    return _compare(parse, target, spec.op, spec.negate)


def _is(spec: FilterSpec) -> Native:
    wanted = {"null": None, "unknown": None, "true": "t", "false": "f"}[spec.value]

    def check(value: str | None, run: FilterRun) -> bool:
        return (value == wanted) != spec.negate

    return check


def _in(
    parse: Callable[[str], Any], targets: frozenset[Any], has_null: bool, negate: bool
) -> Native:
    def check(value: str | None, run: FilterRun) -> bool | None:
        if value is None:
            return False
        found = run.parsed(parse, value) in targets
        if not found and has_null:
            return False  # `x = any('{..,NULL}')` is NULL when nothing matches
        return found != negate

    return check


def _compare(parse: Callable[[str], Any], target: Any, op: str, negate: bool) -> Native:
    compare: Callable[[Any, Any], Any] = _COMPARISONS.get(op, operator.ne)  # not isdistinct

    def check(value: str | None, run: FilterRun) -> bool | None:
        if op == "isdistinct":
            distinct = value is None or run.parsed(parse, value) != target
            return distinct != negate
        if value is None:
            return False
        return bool(compare(run.parsed(parse, value), target)) != negate

    return check


def _sql_expression(check: SqlCheck, args: list[str | None]) -> str:
    """check_equality_op's statement for one check; its values are appended to `args`."""
    type_sql, op, negate, value, operand = check
    args.append(value)
    left = f"${len(args)}::text::{type_sql}"
    if op == "is":  # the keyword was validated at subscribe time (null/true/false/unknown)
        return f"({left} IS {'NOT ' if negate else ''}{operand.upper()})"
    args.append(operand)
    right = f"${len(args)}::text::{type_sql}"
    if op == "isdistinct":
        return f"({left} IS {'NOT ' if negate else ''}DISTINCT FROM {right})"
    if op == "in":
        expression = f"({left} = any({right}[]))"
    else:
        expression = f"({left} {_SYMBOLS[op]} ({right}))"
    return f"(not {expression})" if negate else expression


class FilterRun:
    """Verdicts for one row: native checks here, SQL ones learned from a FilterSession."""

    def __init__(self, row: Row | None) -> None:
        self.row = row
        self._parsed: dict[tuple[Callable[[str], Any], str], Any] = {}
        self._sql: dict[SqlCheck, bool] = {}

    def parsed(self, parse: Callable[[str], Any], text: str) -> Any:
        """`parse(text)`, once per row: many subscribers compare the same value."""
        key = (parse, text)
        if key not in self._parsed:
            self._parsed[key] = parse(text)
        return self._parsed[key]

    def may_pass(self, filters: tuple[CompiledFilter, ...]) -> bool:
        """False when a column is missing or a native check fails; SQL checks still open."""
        return self._verdict(filters, None) is not False

    def wanted(self, filters: tuple[CompiledFilter, ...], into: dict[SqlCheck, None]) -> None:
        """Add the SQL checks these filters still need: none unless every native check passed,
        whatever the filters' order."""
        if self._verdict(filters, None) is None:
            self._verdict(filters, into)

    def learn(self, results: Mapping[SqlCheck, bool]) -> None:
        self._sql.update(results)

    def passes(self, filters: tuple[CompiledFilter, ...]) -> bool:
        """is_visible_through_filters: every filter column present and every filter true."""
        return self._verdict(filters, None) is True

    def _verdict(
        self, filters: tuple[CompiledFilter, ...], wanted: dict[SqlCheck, None] | None
    ) -> bool | None:
        if self.row is None:
            return not filters
        outstanding = False
        for f in filters:
            if f.spec.column not in self.row:
                return False
            value = self.row[f.spec.column]
            verdict = self._decide(f, value)
            if verdict is None:
                check = f.sql_check(value)
                verdict = self._sql.get(check)
                if verdict is None:
                    outstanding = True
                    if wanted is not None:
                        wanted[check] = None
                    continue
            if not verdict:
                return False
        return None if outstanding else True

    def _decide(self, f: CompiledFilter, value: str | None) -> bool | None:
        if f.native is not None:
            try:
                result = f.native(value, self)
            except (ValueError, ArithmeticError):
                result = None
            if result is not None:
                return result
        if value is None and f.spec.op not in ("is", "isdistinct"):
            return False  # NULL compared is NULL, which Supabase counts as false
        return None


async def evaluate(conn: asyncpg.Connection, checks: list[SqlCheck]) -> list[bool]:
    """check_equality_op for every check, in one statement."""
    args: list[str | None] = []
    expressions = [_sql_expression(check, args) for check in checks]
    row = await conn.fetchval(f"select array[{', '.join(expressions)}]::bool[]", *args)
    return [bool(value) for value in row]
