"""The one statement each request runs, shaped like PostgREST's main queries: the read,
the write (INSERT/UPDATE/DELETE from one JSON parameter) or the function call as a CTE,
and one row back with the total count, the page size, the JSON body and the
response.status / response.headers a function may have set."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.embedded.rest.embedding import Joined, Planner
from gateway.embedded.rest.grammar import QueryParams
from gateway.embedded.rest.negotiate import Range
from gateway.embedded.rest.schema import Column, Routine, Snapshot, Table
from gateway.embedded.rest.sql import (
    Params,
    Scope,
    condition_fields,
    ident,
    limit_sql,
    order_sql,
    qualified,
    select_sql,
    where_sql,
)

SOURCE = "pgrst_source"
_INSERTED = "nullif(current_setting('pgrst.inserted', true), '')::int"
# Counts rows really inserted by a merge-duplicates upsert: +1 per row offered, -1 per
# row that went to DO UPDATE instead (how PostgREST tells 201 from 200).
_OFFERED = "set_config('pgrst.inserted', (coalesce(" + _INSERTED + ", 0) + 1)::text, true) <> '0'"
_UPDATED = "set_config('pgrst.inserted', (coalesce(" + _INSERTED + ", 0) - 1)::text, true) <> '-1'"


@dataclass(frozen=True)
class Shape:
    """How the rows become the response body."""

    kind: str = "array"  # "array" | "single" | "none" (no body: HEAD, return=minimal, void)
    strip_nulls: bool = False
    scalar: bool = False  # the rows are values of a scalar function (column pgrst_scalar)


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[object, ...]


@dataclass(frozen=True)
class Payload:
    """A JSON request body and the columns (or named arguments) it writes."""

    text: str
    is_object: bool
    columns: tuple[Column, ...]
    apply_defaults: bool = False  # Prefer: missing=default


def _body_sql(shape: Shape) -> str:
    if shape.kind == "none":
        return "''"
    rows = "_postgrest_t.pgrst_scalar" if shape.scalar else "_postgrest_t"
    value = f"json_agg({rows})" + ("->0" if shape.kind == "single" else "")
    if shape.strip_nulls:
        value = f"json_strip_nulls({value})"
    empty = "'null'" if shape.kind == "single" else "'[]'"
    return f"coalesce({value}, {empty})::text"


def _main(
    source: str,
    inner: str,
    shape: Shape,
    *,
    count_from: str | None = None,
    page_total: str = "pg_catalog.count(_postgrest_t)",
    inserted: str = "NULL::int",
) -> str:
    count_cte = f", pgrst_source_count AS ({count_from})" if count_from is not None else ""
    total = (
        "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
        if count_from is not None
        else "NULL::bigint"
    )
    return (
        f"WITH {SOURCE} AS ({source}){count_cte} "
        f"SELECT {total} AS total_result_set, {page_total} AS page_total, "
        f"{_body_sql(shape)} AS body, "
        "nullif(current_setting('response.headers', true), '') AS response_headers, "
        "nullif(current_setting('response.status', true), '') AS response_status, "
        f"{inserted} AS response_inserted "
        f"FROM ({inner}) _postgrest_t"
    )


@dataclass(frozen=True)
class Embedding:
    """What planning embeds needs: the schema's relationships and the server's max rows."""

    snapshot: Snapshot
    max_rows: int | None

    def planner(self, query: QueryParams, params: Params) -> Planner:
        return Planner(self.snapshot, query.refinements, params, self.max_rows)

    def returned(self, table: Table, query: QueryParams, shape: Shape, params: Params) -> Returned:
        """A write's returned rows, with their embeds planned."""
        if shape.kind == "none" or not query.embeds:
            return Returned(query, shape, Joined())
        scope = Scope(ident(table.name), table.name, table.columns)
        joined = self.planner(query, params).plan(scope, table.name, query.embeds)
        return Returned(query, shape, joined)


def _selected(scope: Scope, query: QueryParams, joined: Joined, params: Params) -> str:
    """The columns, then the embedded resources (PostgREST puts those last)."""
    columns = select_sql(scope, query.select, params) if query.select else ""
    return ", ".join(part for part in (columns, *joined.selects) if part)


def read(
    table: Table,
    query: QueryParams,
    page: Range,
    *,
    count: bool,
    shape: Shape,
    embedding: Embedding,
) -> Statement:
    params = Params()
    scope = Scope(qualified(table.schema, table.name), table.name, table.columns)
    joined = embedding.planner(query, params).plan(scope, table.name, query.embeds)
    where = where_sql(joined.filtering(scope), query.conditions, params)
    order = order_sql(scope, query.order, params, joined.order(table.name))
    source = (
        f"SELECT {_selected(scope, query, joined, params)} FROM {scope.qualifier}"
        f"{''.join(joined.joins)}{where}{order}"
        f"{limit_sql(page.offset, page.limit, params)}"
    )
    # Left joins cannot change the count, unless a `label=is.null` filter reads one.
    filtered = condition_fields(query.conditions) & joined.related.keys()
    counted = joined.joins if filtered else joined.inner_joins
    count_from = f"SELECT 1 FROM {scope.qualifier}{''.join(counted)}{where}" if count else None
    sql = _main(source, f"SELECT * FROM {SOURCE}", shape, count_from=count_from)
    return Statement(sql, tuple(params.values))


# Writes -----------------------------------------------------------------------------------


def json_source(payload: Payload, params: Params, *, limit_one: bool = False) -> str:
    """FROM the body's rows, typed by the target columns (json_to_recordset)."""
    kind = "jsonb" if payload.apply_defaults else "json"
    sql = (
        f"FROM (SELECT {params.text(payload.text, 'pg_catalog.' + kind)} AS json_data) "
        "pgrst_payload, "
    )
    data = "pgrst_payload.json_data"
    if payload.apply_defaults:
        defaults = ", ".join(
            f"{params.text(c.name)}, {c.default}" for c in payload.columns if c.default
        )
        build = f"jsonb_build_object({defaults})"
        sql += (
            f"LATERAL (SELECT {build} || pgrst_payload.json_data AS val) pgrst_json_defs, "
            if payload.is_object
            else f"LATERAL (SELECT jsonb_agg({build} || elem) AS val "
            "FROM jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, "
        )
        data = "pgrst_json_defs.val"
    names = ", ".join(ident(c.name) for c in payload.columns)
    if payload.columns:
        to_rows = f"{kind}_to_record" if payload.is_object else f"{kind}_to_recordset"
        typed = ", ".join(
            f"{ident(c.name)} {c.record_type or c.cast_type}" for c in payload.columns
        )
        rows = f"{to_rows}({data}) AS _({typed})" + (" LIMIT 1" if limit_one else "")
    else:
        # {} inserts one row of defaults; [{}, {}] one per element.
        rows = "(values(1)) _" if payload.is_object else f"{kind}_array_elements({data}) _"
    return sql + f"LATERAL (SELECT {names} FROM {rows}) pgrst_body"


@dataclass(frozen=True)
class Returned:
    """What a write's rows are read back as: its select, with any embeds already planned."""

    query: QueryParams
    shape: Shape
    joined: Joined


def _returned_columns(table: Table, returned: Returned) -> str:
    target = qualified(table.schema, table.name)
    if returned.shape.kind == "none":
        return "1"
    if returned.query.select_all:
        return f"{target}.*"
    # Only what the select names (and the embeds join on): RETURNING needs SELECT rights on
    # each returned column.
    names = dict.fromkeys(item.field.name for item in returned.query.select)
    names.update(dict.fromkeys(sorted(returned.joined.parent_columns)))
    return ", ".join(f"{target}.{ident(n)}" for n in names) or "1"


def _returning(table: Table, returned: Returned) -> str:
    return "RETURNING " + _returned_columns(table, returned)


def _mutation(
    table: Table,
    returned: Returned,
    mutate: str,
    params: Params,
    *,
    inserted: str = "NULL::int",
) -> Statement:
    if returned.shape.kind == "none":
        inner = f"SELECT * FROM {SOURCE}"
    else:
        scope = Scope(ident(table.name), table.name, table.columns)
        joined = returned.joined
        inner = (
            f"SELECT {_selected(scope, returned.query, joined, params)} "
            f"FROM {SOURCE} AS {ident(table.name)}{''.join(joined.joins)}"
        )
    shape = returned.shape
    return Statement(_main(mutate, inner, shape, inserted=inserted), tuple(params.values))


def insert(
    table: Table,
    query: QueryParams,
    payload: Payload,
    shape: Shape,
    *,
    resolution: str | None,
    conflict: tuple[str, ...],
    embedding: Embedding,
) -> Statement:
    params = Params()
    returned = embedding.returned(table, query, shape, params)
    names = ", ".join(ident(c.name) for c in payload.columns)
    sql = (
        f"INSERT INTO {qualified(table.schema, table.name)}"
        f"{f'({names})' if names else ''} SELECT {names} {json_source(payload, params)}"
    )
    merge = resolution == "merge-duplicates"
    if merge:
        sql += f" WHERE {_OFFERED}"
    if resolution and conflict:
        sql += f" ON CONFLICT({', '.join(ident(c) for c in conflict)}) "
        if merge and payload.columns:
            sets = ", ".join(f"{ident(c.name)} = EXCLUDED.{ident(c.name)}" for c in payload.columns)
            sql += f"DO UPDATE SET {sets} WHERE {_UPDATED}"
        else:
            sql += "DO NOTHING"
    sql += " " + _returning(table, returned)
    return _mutation(table, returned, sql, params, inserted=_INSERTED if merge else "NULL::int")


def update(
    table: Table, query: QueryParams, payload: Payload, shape: Shape, *, embedding: Embedding
) -> Statement:
    params = Params()
    returned = embedding.returned(table, query, shape, params)
    target = qualified(table.schema, table.name)
    if not payload.columns:
        # Nothing to set: no rows change, but ?select= still names valid columns.
        columns = _returned_columns(table, returned)
        return _mutation(table, returned, f"SELECT {columns} FROM {target} WHERE false", params)
    sets = ", ".join(f"{ident(c.name)} = pgrst_body.{ident(c.name)}" for c in payload.columns)
    scope = Scope(target, table.name, table.columns)
    sql = (
        f"UPDATE {target} SET {sets} {json_source(payload, params)}"
        f"{where_sql(scope, query.conditions, params)} {_returning(table, returned)}"
    )
    return _mutation(table, returned, sql, params)


def delete(table: Table, query: QueryParams, shape: Shape, *, embedding: Embedding) -> Statement:
    params = Params()
    returned = embedding.returned(table, query, shape, params)
    target = qualified(table.schema, table.name)
    scope = Scope(target, table.name, table.columns)
    sql = (
        f"DELETE FROM {target}{where_sql(scope, query.conditions, params)} "
        f"{_returning(table, returned)}"
    )
    return _mutation(table, returned, sql, params)


# Function calls ---------------------------------------------------------------------------


def call(
    routine: Routine,
    query: QueryParams,
    page: Range,
    *,
    arguments: str,
    from_body: str,
    params: Params,
    count: bool,
    shape: Shape,
) -> Statement:
    """`arguments` is the rendered argument list; `from_body` the FROM of a JSON body."""
    function = f"{qualified(routine.schema, routine.name)}({arguments})"
    if routine.composite:
        source = (
            f"SELECT pgrst_call.* {from_body}, LATERAL {function} pgrst_call"
            if from_body
            else f"SELECT pgrst_call.* FROM {function} pgrst_call"
        )
    else:
        scalar = f"(SELECT {function} pgrst_scalar) pgrst_call"
        source = (
            f"SELECT pgrst_call.pgrst_scalar {from_body}, LATERAL {scalar}"
            if from_body
            else f"SELECT pgrst_call.pgrst_scalar FROM {scalar}"
        )
    scope = Scope(ident(SOURCE), routine.name, routine.columns)
    where = where_sql(scope, query.conditions, params)
    selected = (
        select_sql(scope, query.select, params) if routine.composite else f"{SOURCE}.pgrst_scalar"
    )
    limit = limit_sql(page.offset, page.limit, params) if routine.returns_set else ""
    inner = f"SELECT {selected} FROM {SOURCE}{where}{order_sql(scope, query.order, params)}{limit}"
    count_from = f"SELECT 1 FROM {SOURCE}{where}" if count else None
    page_total = "pg_catalog.count(_postgrest_t)" if routine.returns_set else "1"
    sql = _main(source, inner, shape, count_from=count_from, page_total=page_total)
    return Statement(sql, tuple(params.values))
