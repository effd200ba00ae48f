"""Filter expressions of PostgREST's grammar: `[not.]op.value` with in-lists, is-values
and quantifiers, and the and/or trees of ?or= and ?and=."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gateway.embedded.rest.syntax import (
    Condition,
    Cursor,
    Filter,
    Logic,
    Operation,
    ParseFailure,
    field,
    identifier,
    quoted,
)

SIMPLE_OPERATORS = frozenset({"neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"})
QUANTIFIABLE_OPERATORS = frozenset(
    {"eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
)
FTS_OPERATORS = frozenset({"fts", "plfts", "phfts", "wfts"})
IS_VALUES = ("null", "not_null", "true", "false", "unknown")

T = TypeVar("T")


def _word(cur: Cursor) -> str:
    start = cur.pos
    while "a" <= cur.peek() <= "z" and not cur.at_end():
        cur.pos += 1
    return cur.text[start : cur.pos]


def rest_value(cur: Cursor) -> str:
    value = cur.text[cur.pos :]
    cur.pos = len(cur.text)
    return value


def _quoted_element(cur: Cursor) -> str | None:
    """A quoted value is only one when it is followed by `,` or `)`."""
    save = cur.pos
    try:
        value = quoted(cur)
    except ParseFailure:
        cur.pos = save
        return None
    if cur.at_end() or cur.peek() in ",)":
        return value
    cur.pos = save
    return None


def _plain_element(cur: Cursor) -> str:
    start = cur.pos
    while not cur.at_end() and cur.peek() not in ",)":
        cur.pos += 1
    return cur.text[start : cur.pos]


def list_element(cur: Cursor) -> str:
    value = _quoted_element(cur) if cur.peek() == '"' else None
    return _plain_element(cur) if value is None else value


def logic_value(cur: Cursor) -> str:
    if cur.peek() == '"':
        value = _quoted_element(cur)
        if value is not None:
            return value
    if cur.peek() == "{":
        end = cur.text.find("}", cur.pos)
        inner = cur.text[cur.pos + 1 : end] if end >= 0 else "{"
        if end >= 0 and "{" not in inner:
            value = cur.text[cur.pos : end + 1]
            cur.pos = end + 1
            return value
    return _plain_element(cur)


def _parenthesized(cur: Cursor, item: Callable[[Cursor], T]) -> list[T]:
    """`(item,item,...)`, blanks allowed around the parentheses."""
    cur.skip_ws()
    cur.expect("(")
    cur.skip_ws()
    items = [item(cur)]
    while cur.take(","):
        items.append(item(cur))
    cur.skip_ws()
    cur.expect(")")
    cur.skip_ws()
    return items


def _is_value(cur: Cursor) -> str:
    for candidate in IS_VALUES:
        if cur.peek(len(candidate)).lower() == candidate:
            cur.pos += len(candidate)
            return candidate
    cur.fail("isVal: (null, not_null, true, false, unknown)")


def op_expr(cur: Cursor, read_value: Callable[[Cursor], str]) -> Operation:
    """`[not.]op.value`; `read_value` parses a single value in this context."""
    start = cur.pos
    negated = cur.take("not.")
    op_start = cur.pos
    word = _word(cur)
    if word == "in" and cur.take("."):
        return Operation("in", tuple(_parenthesized(cur, list_element)), negated)
    if word == "is" and cur.take("."):
        return Operation("is", _is_value(cur), negated)
    if word == "isdistinct" and cur.take("."):
        return Operation("isdistinct", read_value(cur), negated)
    if word in FTS_OPERATORS:
        language = None
        if cur.take("("):
            language = identifier(cur)
            cur.expect(")")
        cur.expect(".", "delimiter (.)")
        return Operation(word, read_value(cur), negated, language=language)
    if word in SIMPLE_OPERATORS and cur.take("."):
        return Operation(word, read_value(cur), negated)
    if word in QUANTIFIABLE_OPERATORS:
        quantifier = "any" if cur.take("(any)") else "all" if cur.take("(all)") else None
        cur.expect(".", "delimiter (.)")
        return Operation(word, read_value(cur), negated, quantifier=quantifier)
    cur.pos = op_start
    cur.fail(
        "operator (eq, gt, ...)"
        if negated or start != op_start
        else '"not" or operator (eq, gt, ...)'
    )


def logic_tree(cur: Cursor) -> Condition:
    """`and(a.eq.1,or(b.is.null,not.c.gt.2))`; the furthest failure is reported."""
    save = cur.pos
    try:
        target = field(cur)
        cur.expect(".", "delimiter (.)")
        return Filter(target, op_expr(cur, logic_value))
    except ParseFailure as failure:
        as_filter = failure
    cur.pos = save
    try:
        negated = cur.take("not.")
        if cur.take("and"):
            operator = "and"
        elif cur.take("or"):
            operator = "or"
        else:
            cur.fail("logic operator (and, or)")
        return Logic(operator, negated, tuple(_parenthesized(cur, logic_tree)))
    except ParseFailure as failure:
        raise failure if failure.pos >= as_filter.pos else as_filter from None
