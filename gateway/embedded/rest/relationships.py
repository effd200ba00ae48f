"""Relationships between the exposed schema's tables, as PostgREST's schema cache finds them:
each foreign key gives a many-to-one (or one-to-one, when its columns are unique) from the
referencing table and the inverse one-to-many (or one-to-one) from the referenced one; and
`find` picks the one an embed names, with PostgREST's errors when none or several match
and a many-to-many between two tables through a junction table whose foreign keys to both
lie within its primary key (PostgREST src/library/PostgREST/SchemaCache.hs
allM2OandO2ORels, addInverseRels, addM2MRels; Plan.hs findRel; Error.hs NoRelBetween,
AmbiguousRelBetween). Foreign keys into other schemas and views are not embedded here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from gateway.embedded.rest import errors

_FOREIGN_KEYS_SQL = """
with uniques as (
  select conrelid, array_agg(key order by key) as cols
  from pg_catalog.pg_constraint, lateral unnest(conkey) as _(key)
  where contype in ('p', 'u')
  group by oid, conrelid
)
select tab.relname as table_name, other.relname as foreign_table_name, c.conname,
       array(select a.attname::text
             from unnest(c.conkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
             order by k.ord) as columns,
       array(select a.attname::text
             from unnest(c.confkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum
             order by k.ord) as foreign_columns,
       array(select k from unnest(c.conkey) as k order by k)
         in (select cols from uniques u where u.conrelid = c.conrelid) as one_to_one
from pg_catalog.pg_constraint c
join pg_catalog.pg_class tab on tab.oid = c.conrelid
join pg_catalog.pg_class other on other.oid = c.confrelid
where c.contype = 'f'
  and tab.relnamespace = $1::text::regnamespace
  and other.relnamespace = $1::text::regnamespace
order by tab.relname, c.conname
"""

_RANK = {"one-to-many": 0, "many-to-one": 1, "one-to-one": 2, "many-to-many": 3}
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Junction:
    """The table between the two sides of a many-to-many, and its foreign keys to each:
    `source` pairs each column of the origin with the junction column referencing it,
    `target` each column of the foreign table with its junction column."""

    table: str
    constraint1: str
    constraint2: str
    source: Pairs
    target: Pairs


@dataclass(frozen=True)
class Relationship:
    """From `table` to `foreign_table` through `constraint`; `columns` pairs each column of
    `table` with the `foreign_table` column it meets (none for a many-to-many, which goes
    through `junction`)."""

    table: str
    foreign_table: str
    constraint: str
    columns: Pairs
    cardinality: str  # "many-to-one" | "one-to-many" | "one-to-one" | "many-to-many"
    is_self: bool
    junction: Junction | None = None

    @property
    def to_one(self) -> bool:
        """Embeds as an object (or null) rather than an array."""
        return self.cardinality in ("many-to-one", "one-to-one")

    def _single(self, index: int) -> str | None:
        return self.columns[0][index] if len(self.columns) == 1 else None

    @property
    def hint(self) -> str:
        """What `!hint` picks this relationship out with, in an ambiguity error's hint."""
        return self.junction.table if self.junction else self.constraint

    def details(self) -> dict[str, str]:
        """PostgREST's compressedRel, listed in an ambiguity error."""
        if self.junction is not None:
            j = self.junction
            cols1 = ", ".join(c for _, c in j.source)
            cols2 = ", ".join(c for _, c in j.target)
            how = f"{j.table} using {j.constraint1}({cols1}) and {j.constraint2}({cols2})"
        else:
            cols = ", ".join(c for c, _ in self.columns)
            fcols = ", ".join(f for _, f in self.columns)
            how = f"{self.constraint} using {self.table}({cols}) and {self.foreign_table}({fcols})"
        return {
            "cardinality": self.cardinality,
            "embedding": f"{self.table} with {self.foreign_table}",
            "relationship": how,
        }

    def matches(self, target: str, hint: str | None) -> bool:
        """PostgREST's findRel filter for one relationship."""
        col, fcol = self._single(0), self._single(1)
        if self.is_self:
            if hint is None:  # children by the table's name, the parent by the column's
                return (target == self.foreign_table and self.cardinality == "one-to-many") or (
                    target == col and self.cardinality == "many-to-one"
                )
            return (
                target == self.foreign_table and self.cardinality == "one-to-many" and hint == fcol
            )
        if self.junction is not None:  # by the foreign table, and its junction as the hint
            return target == self.foreign_table and hint in (None, self.junction.table)
        if hint is None:
            return target in (self.foreign_table, self.constraint, col)
        return target == self.foreign_table and hint in (self.constraint, col, fcol)


def _sort_key(rel: Relationship) -> tuple[str, bool, int, str]:
    return (rel.foreign_table, rel.is_self, _RANK[rel.cardinality], rel.constraint)


async def load(
    conn: asyncpg.Connection, schema: str, primary_keys: Mapping[str, tuple[str, ...]]
) -> dict[str, list[Relationship]]:
    """Every relationship of `schema`'s tables, by origin table."""
    found: dict[str, list[Relationship]] = {}
    for row in await conn.fetch(_FOREIGN_KEYS_SQL, schema):
        table, other = row["table_name"], row["foreign_table_name"]
        pairs = tuple(zip(row["columns"], row["foreign_columns"], strict=True))
        inverse = tuple((f, c) for c, f in pairs)
        one = bool(row["one_to_one"])
        is_self = table == other
        forward = "one-to-one" if one else "many-to-one"
        backward = "one-to-one" if one else "one-to-many"
        for rel in (
            Relationship(table, other, row["conname"], pairs, forward, is_self),
            Relationship(other, table, row["conname"], inverse, backward, is_self),
        ):
            found.setdefault(rel.table, []).append(rel)
    for rel in _many_to_many(found, primary_keys):
        found.setdefault(rel.table, []).append(rel)
    for rels in found.values():
        rels.sort(key=_sort_key)
    return found


def _many_to_many(
    found: Mapping[str, Sequence[Relationship]], primary_keys: Mapping[str, tuple[str, ...]]
) -> list[Relationship]:
    """A pair of the junction's foreign keys whose columns all lie within its primary key
    relates the two tables they reference (PostgREST's addM2MRels)."""
    made: list[Relationship] = []
    for junction, rels in found.items():
        outgoing = [r for r in rels if r.cardinality == "many-to-one"]
        key = set(primary_keys.get(junction, ()))
        for first in outgoing:
            for second in outgoing:
                used = {c for c, _ in first.columns} | {c for c, _ in second.columns}
                if first.constraint == second.constraint or not used <= key:
                    continue
                link = Junction(
                    junction,
                    first.constraint,
                    second.constraint,
                    tuple((f, c) for c, f in first.columns),
                    tuple((f, c) for c, f in second.columns),
                )
                origin, other = first.foreign_table, second.foreign_table
                made.append(
                    Relationship(origin, other, "", (), "many-to-many", origin == other, link)
                )
    return made


def find(
    relationships: Mapping[str, Sequence[Relationship]],
    schema: str,
    origin: str,
    target: str,
    hint: str | None,
) -> Relationship:
    """The one relationship `origin?select=target!hint(...)` names; PGRST200 or PGRST201."""
    candidates = relationships.get(origin, ())
    matched = [rel for rel in candidates if rel.matches(target, hint)]
    if len(matched) == 1:
        return matched[0]
    if matched:
        hints = [f"'{rel.foreign_table}!{rel.hint}'" for rel in matched]
        raise errors.ambiguous_relationship(
            origin, target, [rel.details() for rel in matched], hints
        )
    raise errors.no_relationship(
        origin, target, hint, schema, suggestion=_suggestion(relationships, origin, target)
    )


def _suggestion(
    relationships: Mapping[str, Sequence[Relationship]], origin: str, target: str
) -> str | None:
    """PostgREST's noRelBetweenHint: a near name for the origin if it has no relationships,
    else for the target among the origin's related tables (none when the target is one)."""
    if origin not in relationships:
        near = _closest(origin, relationships)
        return f"Perhaps you meant '{near}' instead of '{origin}'." if near else None
    related = {rel.foreign_table for rel in relationships[origin]}
    if target in related:
        return None
    near = _closest(target, related)
    return f"Perhaps you meant '{near}' instead of '{target}'." if near else None


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
