"""The select= and order= lists of PostgREST's grammar, resource embeds included:
`[alias:]name[!hint][!inner|!left](select-list)` in select, `relation(field)` in order
(PostgREST src/library/PostgREST/ApiRequest/QueryParams.hs pFieldForest, pRelationSelect,
pEmbedParams, pOrder). Spreads (`...name(...)`) and aggregates are refused."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.embedded.rest.errors import aggregates_not_allowed, embedding_not_supported
from gateway.embedded.rest.syntax import (
    AGGREGATES,
    Cursor,
    Field,
    OrderTerm,
    ParseFailure,
    SelectItem,
    field,
    field_name,
    identifier,
)

JOIN_TYPES = ("inner", "left")


@dataclass(frozen=True)
class Embed:
    """A related resource in the select list and what to select from it."""

    name: str  # a table, a foreign key's name or a foreign key column of the parent
    alias: str | None
    hint: str | None  # `!fk_name` or `!column`: which relationship to use
    join: str | None  # "inner" | "left" | None (left)
    select: tuple[SelectItem, ...]
    embeds: tuple[Embed, ...]

    @property
    def label(self) -> str:
        """The key of the embedded value in each row, and its name in ?<label>.filters."""
        return self.alias or self.name


@dataclass(frozen=True)
class SelectList:
    columns: tuple[SelectItem, ...]
    embeds: tuple[Embed, ...]


def _at_item_end(cur: Cursor) -> None:
    cur.skip_ws()
    if not (cur.at_end() or cur.peek() in ",)"):
        cur.fail('"::", ",", ")" or end of input')


def _alias(cur: Cursor) -> str | None:
    save = cur.pos
    try:
        name = field_name(cur)
    except ParseFailure:
        cur.pos = save
        return None
    if cur.peek() == ":" and cur.peek(2) != "::":
        cur.pos += 1
        return name
    cur.pos = save
    return None


def _embed(cur: Cursor, name: str, alias: str | None) -> Embed:
    hint = join = None
    for _ in range(2):  # at most one hint and one join type, in either order
        if not cur.take("!"):
            break
        word = field_name(cur)
        if word in JOIN_TYPES and join is None:
            join = word
        else:
            hint = word
    cur.expect("(")
    inner = _items(cur)
    cur.expect(")")
    _at_item_end(cur)
    return Embed(name, alias, hint, join, inner.columns, inner.embeds)


def select_item(cur: Cursor) -> SelectItem | Embed:
    cur.skip_ws()
    if cur.take("..."):
        raise embedding_not_supported(field_name(cur), "A spread embedding (...)")
    alias = _alias(cur)
    if alias is None and cur.take("*"):
        _at_item_end(cur)
        return SelectItem(Field("*"))
    if cur.take("count()"):
        raise aggregates_not_allowed()
    target = field(cur)
    if cur.peek() in ("(", "!") and not target.path:
        return _embed(cur, target.name, alias)
    cast = identifier(cur) if cur.take("::") else None
    if cur.take("."):
        if any(cur.take(name + "()") for name in AGGREGATES):
            raise aggregates_not_allowed()
        cur.fail('"sum()", "avg()", "count()", "max()" or "min()"')
    _at_item_end(cur)
    return SelectItem(target, alias, cast)


def _items(cur: Cursor) -> SelectList:
    """Items up to the end or a closing parenthesis (not consumed)."""
    cur.skip_ws()
    columns: list[SelectItem] = []
    embeds: list[Embed] = []
    if cur.at_end() or cur.peek() == ")":
        return SelectList((), ())
    while True:
        item = select_item(cur)
        if isinstance(item, Embed):
            embeds.append(item)
        else:
            columns.append(item)
        if not cur.take(","):
            return SelectList(tuple(columns), tuple(embeds))


def select_list(cur: Cursor) -> SelectList:
    items = _items(cur)
    if not cur.at_end():
        cur.fail('"," or end of input')
    return items


def order_list(cur: Cursor) -> tuple[OrderTerm, ...]:
    terms: list[OrderTerm] = []
    while True:
        target = field(cur)
        relation = None
        if cur.take("("):
            relation, target = target.name, field(cur)
            cur.expect(")")
        descending = True if cur.take(".desc") else False if cur.take(".asc") else None
        nulls = "first" if cur.take(".nullsfirst") else "last" if cur.take(".nullslast") else None
        cur.skip_ws()
        terms.append(OrderTerm(target, descending, nulls, relation))
        if cur.take(","):
            continue
        if not cur.at_end():
            cur.fail(
                '"asc", "desc", "nullsfirst" or "nullslast"'
                if cur.peek() == "."
                else '"," or end of input'
            )
        return tuple(terms)
