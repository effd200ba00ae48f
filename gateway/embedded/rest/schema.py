"""The schema cache: tables, columns, primary keys, functions and foreign-key relationships of
an exposed schema, read from pg_catalog once and reloaded when a request names something it
does not know (so a migration applied while the server runs is picked up on first use)."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg

from gateway.embedded.rest import relationships
from gateway.embedded.rest.relationships import Relationship

# Types are named fully qualified (search_path is emptied while loading) and without
# length modifiers, so a text value cast to them is never truncated (char(1), bit(1)).
_TYPE_NAMES = """
  select t.oid,
         case when t.oid = 'bit'::regtype then 'pg_catalog.varbit'
              when t.oid = 'bit[]'::regtype then 'pg_catalog._varbit'
              else quote_ident(tn.nspname) || '.' || quote_ident(t.typname) end as cast_type,
         coalesce(bt.typname, t.typname)::text as base_type
  from pg_type t
  join pg_namespace tn on tn.oid = t.typnamespace
  left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
"""

_COLUMNS_SQL = f"""
with type_names as ({_TYPE_NAMES})
select c.relname as table_name, a.attname as name,
       format_type(a.atttypid, a.atttypmod) as record_type,
       tn.cast_type, tn.base_type,
       case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end as default_expr
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join type_names tn on tn.oid = a.atttypid
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = $1 and c.relkind in ('r', 'v', 'm', 'f', 'p')
order by c.relname, a.attnum
"""

_PRIMARY_KEYS_SQL = """
select c.relname as table_name, array_agg(a.attname::text order by k.ord) as columns
from pg_index i
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
where i.indisprimary and n.nspname = $1
group by c.relname
"""

_ROUTINES_SQL = f"""
with type_names as ({_TYPE_NAMES})
select p.proname as name, p.provolatile = 'v' as volatile, p.proretset as returns_set,
       p.pronargs - p.pronargdefaults as required_count,
       p.prorettype = 'void'::regtype as returns_void,
       rt.typtype = 'c' as returns_composite, rt.typrelid as return_relid,
       coalesce((
         select array_agg(row(coalesce(x.name, ''), tn.cast_type, tn.base_type,
                              coalesce(x.mode, 'i')) order by x.idx)
         from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                     p.proargmodes::text[]) with ordinality as x(type, name, mode, idx)
         join type_names tn on tn.oid = x.type
         where x.type is not null
       ), '{{}}') as args
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = $1 and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
"""

_COMPOSITE_COLUMNS_SQL = f"""
with type_names as ({_TYPE_NAMES})
select a.attrelid as relid, a.attname as name, tn.cast_type, tn.base_type
from pg_attribute a join type_names tn on tn.oid = a.atttypid
where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum
"""


@dataclass(frozen=True)
class Column:
    name: str
    cast_type: str  # e.g. pg_catalog.int8: what a text value is cast to for comparisons
    base_type: str  # typname of the (domain's base) type: json, jsonb, tsvector, ...
    record_type: str = ""  # declared type, for json_to_recordset in writes
    default: str | None = None  # SQL expression of the column default


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    name: str
    cast_type: str
    base_type: str
    required: bool
    variadic: bool = False


@dataclass(frozen=True)
class Routine:
    schema: str
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    returns_void: bool
    composite: bool  # rows with columns (a table type, OUT/TABLE parameters, a record type)
    volatile: bool
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def single_json_param(self) -> bool:
        """One unnamed json/jsonb parameter: it receives the whole request body."""
        return (
            len(self.params) == 1
            and not self.params[0].name
            and self.params[0].base_type in ("json", "jsonb")
        )

    @property
    def signature(self) -> str:
        return (
            f"{self.schema}.{self.name}("
            + ", ".join(f"{p.name} => {p.cast_type}" for p in self.params)
            + ")"
        )


@dataclass(frozen=True)
class Snapshot:
    schema: str
    tables: dict[str, Table]
    routines: dict[str, list[Routine]]
    relationships: dict[str, list[Relationship]] = field(default_factory=dict)


def _routine(
    schema: str, row: asyncpg.Record, composites: dict[int, dict[str, Column]]
) -> Routine | None:
    params: list[Param] = []
    outputs: dict[str, Column] = {}
    for name, cast_type, base_type, mode in row["args"]:
        if mode in ("o", "t", "b"):
            outputs[name] = Column(name, cast_type, base_type)
        if mode in ("i", "b", "v"):
            required = len(params) < row["required_count"]
            params.append(Param(name, cast_type, base_type, required, mode == "v"))
    unnamed = sum(1 for p in params if not p.name)
    if unnamed > 1 or (unnamed == 1 and len(params) > 1):
        return None  # PostgREST cannot call it with named arguments either
    columns = composites.get(row["return_relid"], {}) if row["returns_composite"] else outputs
    return Routine(
        schema,
        row["name"],
        tuple(params),
        row["returns_set"],
        row["returns_void"],
        bool(row["returns_composite"] or outputs),
        row["volatile"],
        columns,
    )


async def load_snapshot(conn: asyncpg.Connection, schema: str) -> Snapshot:
    async with conn.transaction(readonly=True):
        await conn.execute("set local search_path = ''")
        column_rows = await conn.fetch(_COLUMNS_SQL, schema)
        pk_rows = await conn.fetch(_PRIMARY_KEYS_SQL, schema)
        routine_rows = await conn.fetch(_ROUTINES_SQL, schema)
        relids = [r["return_relid"] for r in routine_rows if r["returns_composite"]]
        composite_rows = await conn.fetch(_COMPOSITE_COLUMNS_SQL, relids)
        keys = {r["table_name"]: tuple(r["columns"]) for r in pk_rows}
        rels = await relationships.load(conn, schema, keys)
    tables: dict[str, Table] = {}
    for r in column_rows:
        table = tables.setdefault(
            r["table_name"], Table(schema, r["table_name"], {}, keys.get(r["table_name"], ()))
        )
        table.columns[r["name"]] = Column(
            r["name"], r["cast_type"], r["base_type"], r["record_type"], r["default_expr"]
        )
    composites: dict[int, dict[str, Column]] = {}
    for r in composite_rows:
        composites.setdefault(r["relid"], {})[r["name"]] = Column(
            r["name"], r["cast_type"], r["base_type"]
        )
    routines: dict[str, list[Routine]] = {}
    for r in routine_rows:
        routine = _routine(schema, r, composites)
        if routine is not None:
            routines.setdefault(routine.name, []).append(routine)
    return Snapshot(schema, tables, routines, rels)


def closest(name: str, candidates: Iterable[str], cutoff: float = 0.75) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


class SchemaCache:
    """Per-schema snapshots; a miss reloads (once, however many requests missed at once)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget everything; used when the database reports an unknown object."""
        self._snapshots.clear()

    async def snapshot(self, schema: str, *, stale: Snapshot | None = None) -> Snapshot:
        current = self._snapshots.get(schema)
        if current is not None and current is not stale:
            return current
        async with self._lock:
            current = self._snapshots.get(schema)
            if current is not None and current is not stale:
                return current  # another request reloaded while this one waited
            async with self._pool.acquire() as conn:
                current = await load_snapshot(conn, schema)
            self._snapshots[schema] = current
            return current

    async def table(self, schema: str, name: str, columns: Iterable[str] = ()) -> Table | None:
        """The table (or view), reloading once if it or one of `columns` is unknown."""
        snap = await self.snapshot(schema)
        table = snap.tables.get(name)
        wanted = list(columns)
        if table is None or any(c not in table.columns for c in wanted):
            snap = await self.snapshot(schema, stale=snap)
            table = snap.tables.get(name)
        return table

    async def table_names(self, schema: str) -> list[str]:
        return list((await self.snapshot(schema)).tables)
