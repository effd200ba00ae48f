"""A Data API query string parsed into typed parts, as PostgREST's QueryParams: select,
filters and and/or trees, order, limit/offset, columns, on_conflict and RPC arguments."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode

from gateway.embedded.rest import filters, syntax
from gateway.embedded.rest.errors import not_embedded
from gateway.embedded.rest.syntax import Condition, Cursor, Field, OrderTerm, SelectItem

RESERVED = ("select", "columns", "on_conflict")
EMBEDDABLE = ("order", "limit", "offset", "and", "or")
# The API gateway in front of PostgREST consumes ?apikey=; it never reaches the grammar.
GATEWAY_PARAMS = ("apikey",)
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")

T = TypeVar("T")


@dataclass(frozen=True)
class QueryParams:
    select: tuple[SelectItem, ...]
    conditions: tuple[Condition, ...]  # root filters and logic trees, all ANDed
    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int | None
    columns: tuple[str, ...] | None
    on_conflict: tuple[str, ...] | None
    rpc_args: tuple[tuple[str, str], ...]  # GET/HEAD rpc: parameters that are not filters
    canonical: str

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


def parse_query(pairs: Sequence[tuple[str, str]], *, rpc_read: bool = False) -> QueryParams:
    params = [(k, v) for k, v in pairs if k not in GATEWAY_PARAMS]
    embedded: list[str] = []
    order: tuple[OrderTerm, ...] = ()
    logic: list[Condition] = []
    limit = offset = None
    filter_params: list[tuple[str, str]] = []
    for key, value in params:
        if key in RESERVED:
            continue
        *prefix, last = key.split(".")
        if last not in EMBEDDABLE:
            filter_params.append((key, value))
            continue
        prefix = [p for p in prefix if p != "not"] if last in ("and", "or") else prefix
        if prefix:
            embedded.append(prefix[0])
        elif last == "order":
            order = _parse("order", value, syntax.order_list)
        elif last == "limit":
            limit = _integer(value)
        elif last == "offset":
            offset = _integer(value)
        else:
            negation = "not." if key.startswith("not.") else ""
            logic.append(_parse("logic tree", negation + last + value, filters.logic_tree))

    columns_raw, select_raw = _first(params, "columns"), _first(params, "select")
    columns = _parse("columns parameter", columns_raw, syntax.name_list) if columns_raw else None
    select = _parse("select parameter", select_raw or "*", syntax.select_list) or (
        SelectItem(Field("*")),
    )
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
        if path:
            embedded.append(path[0])
        conditions.append(syntax.Filter(target, operation))
    conflict_raw = _first(params, "on_conflict")
    on_conflict = (
        _parse("on_conflict parameter", conflict_raw, syntax.name_list) if conflict_raw else None
    )
    if embedded:
        raise not_embedded(embedded[0])
    return QueryParams(
        select=select,
        conditions=(*conditions, *logic),
        order=order,
        limit=limit,
        offset=offset,
        columns=columns,
        on_conflict=on_conflict,
        rpc_args=tuple(rpc_args),
        canonical=urlencode(sorted(params, key=lambda kv: kv[0])),
    )
