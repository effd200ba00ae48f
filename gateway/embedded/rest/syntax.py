"""The shared pieces of PostgREST's query-string grammar: the parsed parts' types, a cursor
that reports where parsing failed, field names and JSON paths (select= and order= are
parsed in `selects`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from gateway.embedded.rest.errors import ApiError, query_param_error


@dataclass(frozen=True)
class JsonStep:
    """One `->key` / `->>key` (or `->0`) step into a json value."""

    arrow: str
    key: str
    index: bool = False


@dataclass(frozen=True)
class Field:
    name: str
    path: tuple[JsonStep, ...] = ()


@dataclass(frozen=True)
class SelectItem:
    field: Field  # name "*" stands for every column
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class Operation:
    operator: str  # eq, neq, gt, ..., in, is, isdistinct, fts, plfts, phfts, wfts
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: str | None = None  # "any" / "all" for eq(any) and friends
    language: str | None = None  # fts(english)


@dataclass(frozen=True)
class Filter:
    field: Field
    operation: Operation


@dataclass(frozen=True)
class Logic:
    operator: str  # "and" / "or"
    negated: bool
    children: tuple[Filter | Logic, ...]


Condition = Filter | Logic


@dataclass(frozen=True)
class OrderTerm:
    field: Field
    descending: bool | None = None
    nulls: str | None = None  # "first" / "last"
    relation: str | None = None  # `relation(field)`: a column of a to-one embedded resource


AGGREGATES = ("sum", "avg", "count", "max", "min")
_INDEX = re.compile(r"-?[0-9]+")


class ParseFailure(Exception):
    def __init__(self, pos: int, expected: str) -> None:
        super().__init__(expected)
        self.pos = pos
        self.expected = expected


class Cursor:
    """Position in one parameter value; failures carry where and what was expected."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, label: str | None = None) -> None:
        if not self.take(literal):
            self.fail(label or f'"{literal}"')

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t") and not self.at_end():
            self.pos += 1

    def fail(self, expected: str) -> NoReturn:
        raise ParseFailure(self.pos, expected)


def to_api_error(what: str, text: str, failure: ParseFailure) -> ApiError:
    unexpected = f'"{text[failure.pos]}"' if failure.pos < len(text) else "end of input"
    return query_param_error(
        f'"failed to parse {what} ({text})" (line 1, column {failure.pos + 1})',
        f"unexpected {unexpected} expecting {failure.expected}",
    )


# Names and paths ------------------------------------------------------------------------


def _is_ident_char(char: str) -> bool:
    return char.isalpha() or char.isdigit() or char in "_ $"


def identifier(cur: Cursor) -> str:
    start = cur.pos
    while not cur.at_end() and _is_ident_char(cur.peek()):
        cur.pos += 1
    if cur.pos == start:
        cur.fail("letter or digit")
    return cur.text[start : cur.pos].strip()


def quoted(cur: Cursor) -> str:
    cur.expect('"')
    out: list[str] = []
    while not cur.at_end():
        char = cur.peek()
        cur.pos += 1
        if char == '"':
            return "".join(out)
        if char == "\\" and not cur.at_end():
            char = cur.peek()
            cur.pos += 1
        out.append(char)
    cur.fail('"\\"" (closing quote)')


def _dash_separated(cur: Cursor, read: Callable[[Cursor], str]) -> str:
    parts = [read(cur)]
    while cur.peek() == "-" and cur.peek(2) != "->":
        cur.pos += 1
        parts.append(read(cur))
    return "-".join(parts)


def field_name(cur: Cursor) -> str:
    if cur.peek() == '"':
        return quoted(cur)
    if cur.at_end() or not _is_ident_char(cur.peek()):
        cur.fail("field name (* or [a..z0..9_$])")
    return _dash_separated(cur, identifier)


def _json_key_part(cur: Cursor) -> str:
    start = cur.pos
    while not cur.at_end() and cur.peek() not in "(-:.,>)":
        cur.pos += 1
    if cur.pos == start:
        cur.fail("any non reserved character different from: .,>()")
    return cur.text[start : cur.pos].strip()


def json_path(cur: Cursor) -> tuple[JsonStep, ...]:
    steps: list[JsonStep] = []
    while True:
        if cur.take("->>"):
            arrow = "->>"
        elif cur.take("->"):
            arrow = "->"
        else:
            return tuple(steps)
        match = _INDEX.match(cur.text, cur.pos)
        rest = cur.text[match.end() :] if match else ""
        if match and (not rest or rest.startswith(("->", "::", ".", ","))):
            cur.pos = match.end()
            steps.append(JsonStep(arrow, match.group(), index=True))
        elif cur.peek() == '"':
            steps.append(JsonStep(arrow, quoted(cur)))
        else:
            steps.append(JsonStep(arrow, _dash_separated(cur, _json_key_part)))


def field(cur: Cursor) -> Field:
    cur.skip_ws()
    name = field_name(cur)
    path = json_path(cur)
    cur.skip_ws()
    return Field(name, path)


def name_list(cur: Cursor) -> tuple[str, ...]:
    """`a,"b c",d` — for ?columns= and ?on_conflict=."""
    names = [field_name(cur)]
    cur.skip_ws()
    while cur.take(","):
        cur.skip_ws()
        names.append(field_name(cur))
        cur.skip_ws()
    if not cur.at_end():
        cur.fail('"," or end of input')
    return tuple(names)
