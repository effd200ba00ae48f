"""The `data` of a postgres_changes event, exactly as apply_rls builds it for one role and one
`select` list: columns, commit_timestamp, errors, schema, table, old_record, record, type.

Records are jsonb objects in Supabase, so their keys (and those of JSON values) come in
jsonb's order: shorter keys first, then bytewise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.embedded.cdc.pgc_rls import TableInfo
from gateway.embedded.wal.changes import RowChange
from gateway.embedded.wal.values import column_value

MAX_RECORD_BYTES = 1024 * 1024  # Supabase's poll_max_record_bytes
SMALL_VALUE_BYTES = 64  # what an oversized change still carries per value
TOO_LARGE = "Error 413: Payload Too Large"
NO_PRIMARY_KEY = "Error 400: Bad Request, no primary key"
UNAUTHORIZED = "Error 401: Unauthorized"


def commit_timestamp(when: datetime) -> str:
    """to_char(ts at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'): milliseconds, truncated."""
    utc = when.astimezone(UTC) if when.tzinfo else when
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def jsonb_order(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: jsonb_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [jsonb_order(item) for item in value]
    return value


def _small(value: Any) -> bool:
    # octet_length(value::text) of the jsonb; its text form spaces like json.dumps' default.
    return value is not None and len(json.dumps(value, ensure_ascii=False).encode()) <= 64


@dataclass(frozen=True, slots=True)
class ChangeValues:
    """One change's values as JSON data, converted once for every subscriber."""

    new: dict[str, Any] | None  # the columns the change carries (unchanged TOAST absent)
    old: dict[str, Any] | None  # the replica identity
    keys: frozenset[str]
    too_large: bool

    @classmethod
    def of(cls, change: RowChange) -> ChangeValues:
        by_name = {c.name: c for c in change.columns}

        def convert(row: Mapping[str, str | None] | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {n: column_value(by_name[n], t) for n, t in row.items() if n in by_name}

        keys = frozenset(c.name for c in change.columns if c.is_key)
        return cls(
            convert(change.new), convert(change.old), keys, wal_bytes(change) > MAX_RECORD_BYTES
        )


def wal_bytes(change: RowChange) -> int:
    """About the size of wal2json's message for the change (what Supabase compares to 1 MiB)."""
    types = {c.name: c.type_name for c in change.columns}
    size = 160 + len(change.schema) + len(change.table)
    for row in (change.new, change.old):
        for name, text in (row or {}).items():
            value = 4 if text is None else len(text.encode()) + 2
            size += 52 + len(name) + len(types.get(name, "")) + value
    return size + sum(40 + len(c.name) + len(c.type_name) for c in change.columns if c.is_key)


def event_data(
    change: RowChange,
    values: ChangeValues,
    when: str,
    table: TableInfo,
    role: str,
    select: tuple[str, ...] | None,
) -> dict[str, Any]:
    selectable = table.selectable.get(role, frozenset())

    def wanted(name: str) -> bool:
        return name in selectable and (select is None or name in select or name in values.keys)

    def kept(name: str, value: Any) -> bool:
        return wanted(name) and (not values.too_large or _small(value))

    data: dict[str, Any] = {
        "columns": [{"name": c.name, "type": c.typname} for c in table.columns if wanted(c.name)],
        "commit_timestamp": when,
        "errors": [TOO_LARGE] if values.too_large else None,
        "schema": change.schema,
        "table": change.table,
    }
    old, new = values.old or {}, values.new or {}
    if change.kind != "INSERT":
        rls_delete = table.rls and change.kind == "DELETE"
        data["old_record"] = jsonb_order(
            {
                n: v
                for n, v in old.items()
                if kept(n, v) and (not rls_delete or n in values.keys)  # deletes skip RLS
            }
        )
    if change.kind != "DELETE":
        record = {n: v for n, v in new.items() if kept(n, v)}
        if not values.too_large:  # unchanged TOAST values come from the old row, if it has them
            record.update({n: v for n, v in old.items() if n not in new and wanted(n)})
        data["record"] = jsonb_order(record)
    data["type"] = change.kind
    return data


def error_data(change: RowChange, message: str) -> dict[str, Any]:
    """The 400/401 row: no commit_timestamp or columns, empty records (realtime-py drops it)."""
    data: dict[str, Any] = {
        "columns": [],
        "commit_timestamp": None,
        "errors": [message],
        "schema": change.schema,
        "table": change.table,
    }
    if change.kind == "UPDATE":
        data["old_record"] = {}
    if change.kind != "DELETE":
        data["record"] = {}
    data["type"] = change.kind
    return data
