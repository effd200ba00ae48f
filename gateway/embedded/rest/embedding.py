"""Resource embedding as SQL, shaped like PostgREST's (Query/QueryBuilder.hs getJoin): every
embedded resource is a correlated subquery joined LATERAL to its parent, read as the request's
role, so RLS applies to the embedded rows as to the parent's.

- to-one (many-to-one, one-to-one): `LEFT JOIN LATERAL (SELECT ... WHERE fk = parent) AS e
  ON TRUE`, selected as `row_to_json(e.*)::jsonb` (null when there is no row);
- to-many (one-to-many): `LEFT JOIN LATERAL (SELECT json_agg(e)::jsonb AS e FROM (SELECT ...
  ORDER BY ... LIMIT ...) AS e) AS e ON TRUE`, selected as `COALESCE(e.e, '[]')`;
- many-to-many: like to-many, the junction table joined to the embedded one (Plan.hs
  getJoinConditions, QueryBuilder.hs fromF);
- `!inner` makes it an INNER join (`ON e.e IS NOT NULL` for to-many), so parents without a
  matching (visible, filtered) row are left out, and counted out.

Embedded values follow the parent's columns in each row, as PostgREST orders them. A
to-many embed is capped at the server's max rows, as PostgREST caps every level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.embedded.rest import errors, relationships
from gateway.embedded.rest.grammar import EmbedPath, Refinement
from gateway.embedded.rest.relationships import Relationship
from gateway.embedded.rest.schema import Snapshot
from gateway.embedded.rest.selects import Embed
from gateway.embedded.rest.sql import (
    Params,
    Scope,
    ident,
    limit_sql,
    order_sql,
    qualified,
    select_sql,
    where_sql,
)

_NONE = Refinement()


@dataclass
class Related:
    """A joined embed as its parent level sees it (for `order=label(column)`)."""

    scope: Scope
    to_one: bool
    target: str


@dataclass
class Joined:
    """One level's embeds: what the parent selects, its joins, and what they need of it."""

    selects: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    inner_joins: list[str] = field(default_factory=list)  # the ones that filter parents
    parent_columns: set[str] = field(default_factory=set)  # read by the join conditions
    related: dict[str, Related] = field(default_factory=dict)

    def order(self, origin: str) -> _RelatedOrder:
        return _RelatedOrder(origin, self.related)

    def filtering(self, scope: Scope) -> Scope:
        """`scope` with this level's embeds, so `label=not.is.null` filters can name them."""
        aliases = {label: related.scope.qualifier for label, related in self.related.items()}
        return replace(scope, embedded=aliases)


@dataclass
class _RelatedOrder:
    """Resolves `order=label(column)`: only a to-one embed of this level can order it."""

    origin: str
    related: Mapping[str, Related]

    def __call__(self, relation: str) -> Scope:
        found = self.related.get(relation)
        if found is None:
            raise errors.not_embedded(relation)
        if not found.to_one:
            raise errors.related_order_not_to_one(self.origin, relation)
        return found.scope


def names_known(snapshot: Snapshot, embeds: tuple[Embed, ...]) -> bool:
    """Whether every embed names something the cached relationships know (else the cache may
    predate a migration: reload before answering PGRST200)."""
    names: set[str] = set()
    for rels in snapshot.relationships.values():
        for rel in rels:
            names.update((rel.foreign_table, rel.constraint, *(c for c, _ in rel.columns)))
    pending = list(embeds)
    while pending:
        embed = pending.pop()
        if embed.name not in names:
            return False
        pending.extend(embed.embeds)
    return True


class Planner:
    """Builds the joins of one statement; one Planner per statement (aliases are numbered)."""

    def __init__(
        self,
        snapshot: Snapshot,
        refinements: Mapping[EmbedPath, Refinement],
        params: Params,
        max_rows: int | None,
    ) -> None:
        self.snapshot = snapshot
        self.refinements = refinements
        self.params = params
        self.max_rows = max_rows
        self._count = 0

    def plan(
        self, parent: Scope, origin: str, embeds: tuple[Embed, ...], path: EmbedPath = ()
    ) -> Joined:
        """The joins of `embeds` under the level `parent` (the table `origin`)."""
        joined = Joined()
        for embed in embeds:
            self._embed(joined, parent, origin, embed, (*path, embed.label))
        return joined

    def _embed(
        self, joined: Joined, parent: Scope, origin: str, embed: Embed, path: EmbedPath
    ) -> None:
        snapshot = self.snapshot
        rel = relationships.find(
            snapshot.relationships, snapshot.schema, origin, embed.name, embed.hint
        )
        target = snapshot.tables[rel.foreign_table]
        self._count += 1
        depth = len(path)
        row_alias = f"{target.name}_{depth}"
        scope = Scope(ident(row_alias), row_alias, target.columns)
        agg = ident(f"pgrst_{self._count}_{embed.label}")
        junction = ident(f"pgrst_{self._count}_junction")
        refinement = self.refinements.get(path, _NONE)
        nested = self.plan(scope, target.name, embed.embeds, path)
        source, through = _correlation(rel, parent, scope, junction, snapshot.schema)
        conditions = [f"{near} = {far}" for near, far in source]
        where = where_sql(nested.filtering(scope), refinement.conditions, self.params)
        where = (where + " AND " if where else " WHERE ") + " AND ".join(conditions)
        columns = select_sql(scope, embed.select, self.params) if embed.select else ""
        selected = ", ".join(part for part in (columns, *nested.selects) if part)
        order = order_sql(scope, refinement.order, self.params, nested.order(target.name))
        page = ""
        if not rel.to_one:
            limit = refinement.limit
            if self.max_rows is not None:
                limit = self.max_rows if limit is None else min(limit, self.max_rows)
            page = limit_sql(refinement.offset or 0, limit, self.params)
        sub = (
            f"SELECT {selected or scope.qualifier + '.*'} "
            f"FROM {qualified(snapshot.schema, target.name)} AS {scope.qualifier}{through}"
            f"{''.join(nested.joins)}{where}{order}{page}"
        )
        inner = embed.join == "inner"
        kind = "INNER" if inner else "LEFT"
        if rel.to_one:
            join = f" {kind} JOIN LATERAL ({sub}) AS {agg} ON TRUE"
            value = f"row_to_json({agg}.*)::jsonb"
        else:
            aggregate = f"SELECT json_agg({agg})::jsonb AS {agg} FROM ({sub}) AS {agg}"
            on = f"{agg}.{agg} IS NOT NULL" if inner else "TRUE"
            join = f" {kind} JOIN LATERAL ({aggregate}) AS {agg} ON {on}"
            value = f"COALESCE({agg}.{agg}, '[]')"
        joined.joins.append(join)
        if inner:
            joined.inner_joins.append(join)
        if selected:  # `name()` selects nothing: it only joins (and filters, with !inner)
            joined.selects.append(f"{value} AS {ident(embed.label)}")
        joined.parent_columns.update(parent_column for _, parent_column in source_columns(rel))
        agg_scope = Scope(agg, embed.label, target.columns)
        joined.related[embed.label] = Related(agg_scope, rel.to_one, target.name)


def source_columns(rel: Relationship) -> list[tuple[str, str]]:
    """(column of the embedded side, column of the parent) pairs the parent is matched on:
    the foreign key's, or for a many-to-many the junction's columns referencing the parent."""
    if rel.junction is not None:
        return [(junction_col, col) for col, junction_col in rel.junction.source]
    return [(fcol, col) for col, fcol in rel.columns]


def _correlation(
    rel: Relationship, parent: Scope, scope: Scope, junction: str, schema: str
) -> tuple[list[tuple[str, str]], str]:
    """The conditions tying the embedded rows to their parent row, and (for a many-to-many)
    the join of the junction table to the embedded table, after its FROM item."""
    near = junction if rel.junction is not None else scope.qualifier
    pairs = [
        (f"{near}.{ident(mine)}", f"{parent.qualifier}.{ident(theirs)}")
        for mine, theirs in source_columns(rel)
    ]
    if rel.junction is None:
        return pairs, ""
    on = " AND ".join(
        f"{junction}.{ident(junction_col)} = {scope.qualifier}.{ident(col)}"
        for col, junction_col in rel.junction.target
    )
    table = qualified(schema, rel.junction.table)
    return pairs, f" JOIN {table} AS {junction} ON {on}"
