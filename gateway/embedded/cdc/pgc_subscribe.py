"""Subscribing a channel's bindings, as Supabase's subscription insert and its
`subscription_check_filters` trigger do: find the published tables each binding names,
check filter and select columns against the role's privileges, and probe every value.

All bindings of a channel succeed or fail together; the error is the message Supabase
pushes. Like Supabase's insert (which walks its list in reverse), the last failing
binding is the one reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from gateway.embedded.cdc.pgc_filters import CompiledFilter, compile_filter
from gateway.embedded.cdc.pgc_inspect import postgrex_message, raised
from gateway.embedded.cdc.pgc_params import BindingSpec, FilterSpec

PUBLICATION = "supabase_realtime"
TIMEOUT_SECONDS = 10.0  # Supabase's subscription insert timeout
DATABASE_TIMEOUTS = "Too many database timeouts"
MAX_IN_VALUES = 100

Entity = tuple[str, str]

_TABLES = """
select schemaname, tablename from pg_catalog.pg_publication_tables
where pubname = $1
  and schemaname like (case $2 when '*' then '%' else $2 end) escape ''
  and tablename like (case $3 when '*' then '%' else $3 end) escape ''
"""
_COLUMNS = """
select a.attname, a.atttypid, a.atttypid::regtype::text as type_sql, t.typname,
       coalesce(co.collisdeterministic, true) as deterministic,
       pg_catalog.has_column_privilege($3, a.attrelid, a.attnum, 'SELECT') as selectable
from pg_catalog.pg_attribute a
join pg_catalog.pg_type t on t.oid = a.atttypid
left join pg_catalog.pg_collation co on co.oid = a.attcollation
where a.attrelid = format('%I.%I', $1::text, $2::text)::regclass
  and a.attnum > 0 and not a.attisdropped
"""
_HAS_OPERATOR = """
select exists(select 1 from pg_catalog.pg_operator where oprname = $1 and oprleft = $2
              and ($3 or (oprright = $2 and oprresult = 'boolean'::regtype)))
"""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One binding of a channel on one published table: what dispatch matches changes to."""

    position: int  # the binding's index in the channel's list
    binding_id: int
    action: str
    entity: Entity
    filters: tuple[CompiledFilter, ...]
    select: tuple[str, ...] | None


class SubscribeError(Exception):
    """The system error to push; `retry` when the database, not the params, failed."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


class _Refused(Exception):
    """A row the trigger (or a cast) refused; rendered with the binding's params."""


def _not_enabled(spec: BindingSpec) -> str:
    return (
        "Unable to subscribe to changes with given parameters. Please check Realtime is "
        f"enabled for the given connect parameters: [{spec.log_params()}]"
    )


def _exception(spec: BindingSpec, error: str) -> str:
    return (
        "Unable to subscribe to changes with given parameters. An exception happened so please "
        f"check your connect parameters: [{spec.log_params()}]. Exception: {error}"
    )


async def subscribe(
    pool: asyncpg.Pool, role: str, bindings: Sequence[tuple[int, BindingSpec]]
) -> list[Subscription]:
    """Validate (binding id, spec) pairs for `role`; raises SubscribeError."""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), pool.acquire() as conn:
            return await _subscribe_all(conn, role, bindings)
    except (TimeoutError, OSError, asyncpg.InterfaceError) as err:
        raise SubscribeError(DATABASE_TIMEOUTS, retry=True) from err


async def _subscribe_all(
    conn: asyncpg.Connection, role: str, bindings: Sequence[tuple[int, BindingSpec]]
) -> list[Subscription]:
    role_exists = await conn.fetchval("select to_regrole($1) is not null", role)
    subscriptions: list[Subscription] = []
    for position in reversed(range(len(bindings))):
        binding_id, spec = bindings[position]
        try:
            tables = await conn.fetch(_TABLES, PUBLICATION, spec.schema, spec.table)
            if not tables:
                raise SubscribeError(_not_enabled(spec))
            if not role_exists:  # claims_role is a regrole: the insert fails on it
                raise _Refused(postgrex_message("42704", f'role "{role}" does not exist'))
            for schema, table in tables:
                filters = await _check_entity(conn, role, spec, schema, table)
                subscriptions.append(
                    Subscription(
                        position,
                        binding_id,
                        spec.action,
                        (schema, table),
                        filters,
                        None if spec.select is None else tuple(sorted(spec.select)),
                    )
                )
        except _Refused as err:
            raise SubscribeError(_exception(spec, str(err))) from None
        except asyncpg.PostgresError as err:
            message = postgrex_message(err.sqlstate or "", err.message, detail=err.detail)
            raise SubscribeError(_exception(spec, message)) from None
    subscriptions.reverse()
    return subscriptions


async def _check_entity(
    conn: asyncpg.Connection, role: str, spec: BindingSpec, schema: str, table: str
) -> tuple[CompiledFilter, ...]:
    columns = {row["attname"]: row for row in await conn.fetch(_COLUMNS, schema, table, role)}
    selectable = {name for name, row in columns.items() if row["selectable"]}
    compiled = []
    for f in spec.filters:
        if f.column not in selectable:
            raise _Refused(raised(f"invalid column for filter {f.column}"))
        column = columns[f.column]
        await _check_value(conn, f, column)
        compiled.append(
            compile_filter(f, column["typname"], column["type_sql"], column["deterministic"])
        )
    for name in spec.select or ():
        if name not in selectable:
            raise _Refused(raised(f"invalid column for select {name}"))
    return tuple(compiled)


async def _check_value(conn: asyncpg.Connection, f: FilterSpec, column: asyncpg.Record) -> None:
    type_sql: str = column["type_sql"]
    if f.op == "in":
        count = await _probe(
            conn, f"select coalesce(array_length($1::text::{type_sql}[], 1), 0)", f.value
        )
        if count > MAX_IN_VALUES:
            raise _Refused(raised("too many values for `in` filter. Maximum 100"))
    elif f.op == "is":
        if f.value not in ("null", "true", "false", "unknown"):
            raise _Refused(
                raised("invalid value for is filter: must be null, true, false, or unknown")
            )
        if f.value != "null" and type_sql != "boolean":
            raise _Refused(raised(f"is {f.value} filter requires a boolean column, got {type_sql}"))
    elif f.op in ("like", "ilike", "match", "imatch"):
        symbol = {"like": "~~", "ilike": "~~", "match": "~", "imatch": "~*"}[f.op]
        if not await conn.fetchval(_HAS_OPERATOR, symbol, column["atttypid"], symbol == "~~"):
            raise _Refused(
                raised(f"operator {f.op} requires a text-compatible column type, got {type_sql}")
            )
        if f.op in ("match", "imatch"):
            try:
                await conn.fetchval("select ''::text ~ $1::text", f.value)
            except asyncpg.PostgresError as err:
                raise _Refused(
                    raised(f"invalid regular expression for {f.op} filter: {err.message}")
                ) from None
    else:
        await _probe(conn, f"select $1::text::{type_sql} is null", f.value)


async def _probe(conn: asyncpg.Connection, sql: str, value: str) -> int:
    """A cast of the filter value; a refusal carries PostgreSQL's own error."""
    try:
        result = await conn.fetchval(sql, value)
    except asyncpg.PostgresError as err:
        raise _Refused(postgrex_message(err.sqlstate or "", err.message)) from None
    return int(result or 0)
