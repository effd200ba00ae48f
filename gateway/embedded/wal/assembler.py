"""Group decoded pgoutput messages into committed Transactions of RowChanges.

Keeps the relation cache (pgoutput sends a Relation before a table's first change on each
connection and after its schema changes) and asks a Catalog for what the stream lacks:
type names and primary keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.embedded.wal import pgoutput
from gateway.embedded.wal.changes import ChangeKind, Column, RowChange, Transaction
from gateway.embedded.wal.typenames import TypeCatalog, TypeNames


class Catalog(TypeCatalog, Protocol):
    """Lookups in the database's catalog, by OID."""

    def primary_key(self, relation_id: int) -> frozenset[str]: ...


@dataclass(frozen=True)
class _Shape:
    schema: str
    table: str
    columns: tuple[Column, ...]
    identity: tuple[bool, ...]  # per column: part of the replica identity


@dataclass
class _Open:
    xid: int
    changes: list[RowChange]


class TransactionAssembler:
    """Feed messages in stream order; `feed` returns the Transaction when one commits."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._shapes: dict[int, _Shape] = {}
        self._types = TypeNames()
        self._open: _Open | None = None

    @property
    def in_transaction(self) -> bool:
        return self._open is not None

    def reset(self) -> None:
        """Forget a transaction cut short by a lost connection; it will be sent again."""
        self._open = None

    def feed(self, message: pgoutput.PgOutputMessage) -> Transaction | None:
        match message:
            case pgoutput.Begin(xid=xid):
                self._open = _Open(xid, [])
            case pgoutput.Commit():
                return self._commit(message)
            case pgoutput.Relation():
                self._shapes[message.relation_id] = self._shape(message)
            case pgoutput.Insert(relation_id=rel, new=new):
                self._add("INSERT", rel, new=new, old=None, old_is_full_row=False)
            case pgoutput.Update(relation_id=rel, new=new, old=old, old_is_full_row=full):
                self._add("UPDATE", rel, new=new, old=old, old_is_full_row=full)
            case pgoutput.Delete(relation_id=rel, old=old, old_is_full_row=full):
                self._add("DELETE", rel, new=None, old=old, old_is_full_row=full)
            case _:
                pass  # Type (the catalog has it), Truncate, Origin, Message
        return None

    def _commit(self, commit: pgoutput.Commit) -> Transaction:
        if self._open is None:
            raise pgoutput.DecodeError("commit without begin")
        opened, self._open = self._open, None
        return Transaction(
            xid=opened.xid,
            commit_lsn=commit.commit_lsn,
            end_lsn=commit.end_lsn,
            commit_time=commit.commit_time,
            changes=tuple(opened.changes),
        )

    def _shape(self, relation: pgoutput.Relation) -> _Shape:
        self._types.load((c.type_oid for c in relation.columns), self.catalog)
        key = self.catalog.primary_key(relation.relation_id)
        columns = tuple(
            Column(
                name=c.name,
                type_oid=c.type_oid,
                type_name=self._types.name(c.type_oid),
                is_key=c.name in key,
                base_type_name=self._types.json_name(c.type_oid),
            )
            for c in relation.columns
        )
        identity = tuple(c.in_identity for c in relation.columns)
        return _Shape(relation.schema, relation.table, columns, identity)

    def _add(
        self,
        kind: ChangeKind,
        relation_id: int,
        *,
        new: tuple[pgoutput.Value, ...] | None,
        old: tuple[pgoutput.Value, ...] | None,
        old_is_full_row: bool,
    ) -> None:
        if self._open is None:
            raise pgoutput.DecodeError(f"{kind} outside a transaction")
        shape = self._shapes.get(relation_id)
        if shape is None:
            raise pgoutput.DecodeError(f"{kind} for relation {relation_id} before its Relation")
        new_row, unchanged = _row(shape, new, keys_only=False) if new is not None else (None, set())
        if old is not None:
            old_row, _ = _row(shape, old, keys_only=not old_is_full_row)
        elif kind == "UPDATE" and new_row is not None:
            # pgoutput sends no old tuple when the key did not change: it equals the new key.
            old_row = {
                c.name: new_row[c.name]
                for c, ident in zip(shape.columns, shape.identity, strict=True)
                if ident and c.name in new_row
            }
        else:
            old_row = None
        self._open.changes.append(
            RowChange(
                kind=kind,
                schema=shape.schema,
                table=shape.table,
                columns=shape.columns,
                new=new_row,
                old=old_row,
                unchanged_toast=frozenset(unchanged),
            )
        )


def _row(
    shape: _Shape, values: tuple[pgoutput.Value, ...], *, keys_only: bool
) -> tuple[dict[str, str | None], set[str]]:
    if len(values) != len(shape.columns):
        raise pgoutput.DecodeError(
            f"{shape.schema}.{shape.table}: {len(values)} values for {len(shape.columns)} columns"
        )
    row: dict[str, str | None] = {}
    unchanged: set[str] = set()
    for column, ident, value in zip(shape.columns, shape.identity, values, strict=True):
        if keys_only and not ident:
            continue
        if value is pgoutput.Toast.UNCHANGED:
            unchanged.add(column.name)
        else:
            row[column.name] = value
    return row, unchanged
