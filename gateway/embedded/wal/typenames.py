"""Type names for column type OIDs, looked up in the catalog once per OID and cached.

Two names per type: `pg_type.typname` (what Supabase lists as a column's type) and the
name whose to_jsonb rules apply to its values: a domain's base type, followed through
domains over domains, and for an array of domains the array of that base.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

UNKNOWN_TYPE = "unknown"


@dataclass(frozen=True)
class TypeRow:
    name: str
    domain_base: int  # typbasetype: the type a domain is over; 0 for other types
    element: int  # typelem of a true array type; 0 for other types


class TypeCatalog(Protocol):
    def types(self, type_oids: Iterable[int]) -> dict[int, TypeRow]: ...


class TypeNames:
    def __init__(self) -> None:
        self._rows: dict[int, TypeRow] = {}

    def load(self, type_oids: Iterable[int], catalog: TypeCatalog) -> None:
        """Look up every OID not cached yet, and the types they are built on."""
        wanted = set(type_oids)
        while missing := wanted - self._rows.keys():
            found = catalog.types(missing)
            self._rows.update(found)
            # A type dropped meanwhile is not found; remember it so we stop asking.
            self._rows.update({oid: TypeRow(UNKNOWN_TYPE, 0, 0) for oid in missing - found.keys()})
            wanted = {
                oid for row in found.values() for oid in (row.domain_base, row.element) if oid
            }

    def name(self, type_oid: int) -> str:
        row = self._rows.get(type_oid)
        return row.name if row else UNKNOWN_TYPE

    def json_name(self, type_oid: int) -> str:
        row = self._rows.get(type_oid)
        if row is None:
            return UNKNOWN_TYPE
        if row.domain_base:
            return self.json_name(row.domain_base)
        if row.element:
            return "_" + self.json_name(row.element)
        return row.name
