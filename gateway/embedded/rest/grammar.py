"""A Data API query string parsed into typed parts, as PostgREST's QueryParams: select (with
embedded resources), filters and and/or trees, order, limit/offset, columns, on_conflict and
RPC arguments; the filters, order, limit and offset of each embedded resource apart."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode

from gateway.embedded.rest import filters, selects, syntax
from gateway.embedded.rest.errors import not_embedded
from gateway.embedded.rest.selects import Embed
from gateway.embedded.rest.syntax import Condition, Cursor, Field, OrderTerm, SelectItem

RESERVED = ("select", "columns", "on_conflict")
EMBEDDABLE = ("order", "limit", "offset", "and", "or")
# The API gateway in front of PostgREST consumes ?apikey=; it never reaches the grammar.
GATEWAY_PARAMS = ("apikey",)
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")

T = TypeVar("T")


EmbedPath = tuple[str, ...]  # labels of nested embeds, outermost first


@dataclass(frozen=True)
class Refinement:
    """What `<path>.<filter>`, `<path>.order`, `<path>.limit` and `<path>.offset` ask of one
    embedded resource."""

    conditions: tuple[Condition, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class QueryParams:
    select: tuple[SelectItem, ...]  # the columns; empty when only resources are embedded
    conditions: tuple[Condition, ...]  # root filters and logic trees, all ANDed
    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int | None
    columns: tuple[str, ...] | None
    on_conflict: tuple[str, ...] | None
    rpc_args: tuple[tuple[str, str], ...]  # GET/HEAD rpc: parameters that are not filters
    canonical: str
    embeds: tuple[Embed, ...] = ()
    refinements: Mapping[EmbedPath, Refinement] = field(default_factory=dict)

    @property
    def select_all(self) -> bool:
        return any(item.field.name == "*" for item in self.select)


def split_query(raw: str) -> list[tuple[str, str]]:
    """Query pairs in order, `+` decoded as a space (httpx form-encodes spaces)."""
    return parse_qsl(raw, keep_blank_values=True, errors="replace")


def _parse(what: str, text: str, parser: Callable[[Cursor], T]) -> T:
    cur = Cursor(text)
    try:
        return parser(cur)
    except syntax.ParseFailure as failure:
        raise syntax.to_api_error(what, text, failure) from None


def _tree_path(key: str) -> tuple[list[str], Field]:
    """`a.b.col->x` → embed path ["a", "b"] and the field col->x."""

    def parse(cur: Cursor) -> tuple[list[str], Field]:
        names = [syntax.field_name(cur)]
        while cur.take("."):
            names.append(syntax.field_name(cur))
        path = syntax.json_path(cur)
        return names[:-1], Field(names[-1], path)

    return _parse("tree path", key, parse)


def _integer(value: str) -> int | None:
    # Like Haskell's readMaybe: an unreadable limit/offset is ignored, as PostgREST does.
    return int(value) if _INTEGER.fullmatch(value) else None


def _first(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in pairs if k == name), None)


@dataclass
class _Parts:
    """One embed path's parts, gathered while the query string is read."""

    conditions: list[Condition] = field(default_factory=list)
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None

    def freeze(self) -> Refinement:
        return Refinement(tuple(self.conditions), self.order, self.limit, self.offset)


def _check_embedded(path: EmbedPath, embeds: tuple[Embed, ...]) -> None:
    """Every step of the path names an embed of the level above, by its alias if it has one."""
    level = embeds
    for label in path:
        found = next((e for e in level if e.label == label), None)
        if found is None:
            aliased = next((e for e in level if e.name == label and e.alias), None)
            raise not_embedded(label, aliased.alias if aliased else None)
        level = found.embeds


def parse_query(pairs: Sequence[tuple[str, str]], *, rpc_read: bool = False) -> QueryParams:
    params = [(k, v) for k, v in pairs if k not in GATEWAY_PARAMS]
    root = _Parts()
    parts: dict[EmbedPath, _Parts] = {}
    filter_params: list[tuple[str, str]] = []
    for key, value in params:
        if key in RESERVED:
            continue
        *prefix, last = key.split(".")
        if last not in EMBEDDABLE:
            filter_params.append((key, value))
            continue
        negation = ""
        if last in ("and", "or") and prefix and prefix[-1] == "not":
            prefix, negation = prefix[:-1], "not."
        into = parts.setdefault(tuple(prefix), _Parts()) if prefix else root
        if last == "order":
            into.order = _parse("order", value, selects.order_list)
        elif last == "limit":
            into.limit = _integer(value)
        elif last == "offset":
            into.offset = _integer(value)
        else:
            tree = _parse("logic tree", negation + last + value, filters.logic_tree)
            into.conditions.append(tree)

    columns_raw, select_raw = _first(params, "columns"), _first(params, "select")
    columns = _parse("columns parameter", columns_raw, syntax.name_list) if columns_raw else None
    listed = _parse("select parameter", select_raw or "*", selects.select_list)
    select = listed.columns or (() if listed.embeds else (SelectItem(Field("*")),))
    conditions: list[Condition] = []
    rpc_args: list[tuple[str, str]] = []
    for key, value in filter_params:
        path, target = _tree_path(key)
        cur = Cursor(value)
        try:
            operation = filters.op_expr(cur, filters.rest_value)
        except syntax.ParseFailure as failure:
            if rpc_read:
                rpc_args.append((target.name, value))
                continue
            raise syntax.to_api_error("filter", value, failure) from None
        condition = syntax.Filter(target, operation)
        if path:
            parts.setdefault(tuple(path), _Parts()).conditions.append(condition)
        else:
            conditions.append(condition)
    conflict_raw = _first(params, "on_conflict")
    on_conflict = (
        _parse("on_conflict parameter", conflict_raw, syntax.name_list) if conflict_raw else None
    )
    for embed_path in parts:
        _check_embedded(embed_path, listed.embeds)
    return QueryParams(
        select=select,
        conditions=(*conditions, *root.conditions),
        order=root.order,
        limit=root.limit,
        offset=root.offset,
        columns=columns,
        on_conflict=on_conflict,
        rpc_args=tuple(rpc_args),
        canonical=urlencode(sorted(params, key=lambda kv: kv[0])),
        embeds=listed.embeds,
        refinements={key: p.freeze() for key, p in parts.items()},
    )
