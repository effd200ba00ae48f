"""SQL fragments from parsed requests: quoted identifiers, bind parameters, fields with
JSON paths, filters and and/or trees, select lists and ORDER BY.

Every value is a bind parameter sent as text and cast in SQL to the type the column has
(`$1::text::pg_catalog.uuid`), which is what PostgREST's untyped parameters amount to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gateway.embedded.rest.errors import not_embedded, undefined_column
from gateway.embedded.rest.schema import Column
from gateway.embedded.rest.syntax import (
    Condition,
    Field,
    Filter,
    Operation,
    OrderTerm,
    SelectItem,
)

TEXT = "pg_catalog.text"
JSON_TYPES = ("json", "jsonb")

_SIMPLE = {
    "neq": "<>",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
_QUANTIFIABLE = {
    "eq": "=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
}
_PATTERN = ("like", "ilike", "match", "imatch")
_IS = {
    "null": "NULL",
    "not_null": "NOT NULL",
    "true": "TRUE",
    "false": "FALSE",
    "unknown": "UNKNOWN",
}
_FTS = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}


def ident(name: str) -> str:
    return '"' + name.replace("\x00", "").replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


class Params:
    """Bind parameters of one statement, numbered in the order they are added."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def text(self, value: str, cast: str = TEXT) -> str:
        placeholder = f"{self.add(value)}::text"
        return placeholder if cast == TEXT else f"{placeholder}::{cast}"


@dataclass(frozen=True)
class Scope:
    """What expressions are written against: a FROM item's SQL name and its columns."""

    qualifier: str  # e.g. "public"."todos", or "todos" for the rows a mutation returned
    label: str  # the relation's name in error messages
    columns: Mapping[str, Column]
    embedded: Mapping[str, str] = field(default_factory=dict)  # embed label -> its join alias

    def column(self, name: str) -> Column:
        found = self.columns.get(name)
        if found is None:
            raise undefined_column(self.label, name)
        return found


def field_sql(scope: Scope, target: Field, params: Params) -> str:
    sql = f"{scope.qualifier}.{ident(target.name)}"
    if not target.path:
        return sql
    column = scope.columns.get(target.name)
    if column is not None and column.base_type not in JSON_TYPES:
        sql = f"to_jsonb({sql})"
    for step in target.path:
        key = f"{params.add(step.key)}::int" if step.index else params.text(step.key)
        sql += f"{step.arrow}{key}"
    return sql


def field_type(scope: Scope, target: Field) -> str:
    """The type a filter value on this field is cast to."""
    column = scope.column(target.name)
    if not target.path:
        return column.cast_type
    if target.path[-1].arrow == "->>":
        return TEXT
    return "pg_catalog.json" if column.base_type == "json" else "pg_catalog.jsonb"


def _operation_sql(scope: Scope, target: Field, op: Operation, params: Params) -> str:
    left = field_sql(scope, target, params)
    cast = field_type(scope, target)
    name, value = op.operator, op.value
    if name == "is":
        return f"{left} IS {_IS[str(value)]}"
    if name == "in":
        if value == ("",):
            return f"{left} = ANY('{{}}')"
        return f"{left} = ANY({params.add(list(value))}::text[]::{cast}[])"
    assert isinstance(value, str)
    if name == "isdistinct":
        return f"{left} IS DISTINCT FROM {params.text(value, cast)}"
    if name in _FTS:
        language = f"{params.text(op.language, 'pg_catalog.regconfig')}, " if op.language else ""
        column = scope.column(target.name)
        if target.path or column.base_type != "tsvector":
            left = f"to_tsvector({language}{left})"
        return f"{left} @@ {_FTS[name]}({language}{params.text(value)})"
    if name in _SIMPLE:
        return f"{left} {_SIMPLE[name]} {params.text(value, cast)}"
    if name in _PATTERN:
        cast = TEXT
        if name in ("like", "ilike"):
            value = value.replace("*", "%")
    if op.quantifier:
        return (
            f"{left} {_QUANTIFIABLE[name]} {op.quantifier.upper()}"
            f"({params.text(value, cast + '[]')})"
        )
    return f"{left} {_QUANTIFIABLE[name]} {params.text(value, cast)}"


def _null_embed(scope: Scope, condition: Filter) -> str | None:
    """`label=is.null` / `label=not.is.null` on an embedded resource: whether it has a row
    (PostgREST's CoercibleFilterNullEmbed); other operators name a column as usual."""
    target, op = condition.field, condition.operation
    alias = scope.embedded.get(target.name)
    if alias is None or target.path or op.operator != "is" or op.value != "null":
        return None
    return f"{alias} IS {'' if op.negated else 'NOT '}DISTINCT FROM NULL"


def condition_sql(scope: Scope, condition: Condition, params: Params) -> str:
    if isinstance(condition, Filter):
        embed = _null_embed(scope, condition)
        if embed is not None:
            return embed
        sql = _operation_sql(scope, condition.field, condition.operation, params)
        return f"NOT {sql}" if condition.operation.negated else sql
    joiner = " AND " if condition.operator == "and" else " OR "
    inner = joiner.join(condition_sql(scope, child, params) for child in condition.children)
    return f"{'NOT ' if condition.negated else ''}({inner})"


def where_sql(scope: Scope, conditions: Iterable[Condition], params: Params) -> str:
    parts = [condition_sql(scope, c, params) for c in conditions]
    return " WHERE " + " AND ".join(parts) if parts else ""


def condition_fields(conditions: Iterable[Condition]) -> set[str]:
    """Every column a set of filters names (the schema cache must know their types)."""
    names: set[str] = set()
    for condition in conditions:
        if isinstance(condition, Filter):
            names.add(condition.field.name)
        else:
            names |= condition_fields(condition.children)
    return names


def select_sql(scope: Scope, items: Iterable[SelectItem], params: Params) -> str:
    parts = []
    for item in items:
        if item.field.name == "*":
            parts.append(f"{scope.qualifier}.*")
            continue
        sql = field_sql(scope, item.field, params)
        if item.cast:
            sql = f"CAST({sql} AS {item.cast})"
        # A JSON path is named after its last key, as PostgREST names it.
        alias = item.alias or (item.field.path[-1].key if item.field.path else None)
        parts.append(f"{sql} AS {ident(alias)}" if alias else sql)
    return ", ".join(parts)


def order_sql(
    scope: Scope,
    terms: Iterable[OrderTerm],
    params: Params,
    related: Callable[[str], Scope] | None = None,
) -> str:
    """ORDER BY; `related(name)` is the scope of a to-one embed a `name(field)` term orders by."""
    parts = []
    for term in terms:
        if term.relation is not None:
            if related is None:
                raise not_embedded(term.relation)
            sql = field_sql(related(term.relation), term.field, params)
        else:
            sql = field_sql(scope, term.field, params)
        if term.descending is not None:
            sql += " DESC" if term.descending else " ASC"
        if term.nulls:
            sql += " NULLS FIRST" if term.nulls == "first" else " NULLS LAST"
        parts.append(sql)
    return " ORDER BY " + ", ".join(parts) if parts else ""


def limit_sql(offset: int, limit: int | None, params: Params) -> str:
    if limit is None and offset == 0:
        return ""
    return f" LIMIT {params.add(limit)} OFFSET {params.add(offset)}"
