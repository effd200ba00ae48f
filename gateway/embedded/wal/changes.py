"""What the WAL stream yields: committed transactions and their row changes, values as text.

LSNs are plain ints (PostgreSQL's 64-bit WAL positions); `format_lsn` gives the 'X/Y' form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ChangeKind = Literal["INSERT", "UPDATE", "DELETE"]


@dataclass(frozen=True)
class Column:
    """One column of a published table, in the table's column order.

    `type_name` is `pg_type.typname` ('int4', '_text', 'timestamptz', a domain's or enum's
    own name). `is_key` marks the table's primary key columns (what Supabase's `pk` lists).
    `base_type_name` is the type whose JSON conversion applies: the base of a domain
    (`_<base>` for an array of domains), else `type_name`; see values.column_value.
    """

    name: str
    type_oid: int
    type_name: str
    is_key: bool
    base_type_name: str = ""


@dataclass(frozen=True)
class RowChange:
    """One row inserted, updated or deleted.

    `new` holds the row after INSERT/UPDATE (None for DELETE); columns listed in
    `unchanged_toast` are absent from it because PostgreSQL did not send them (a large
    value an UPDATE left alone). `old` holds the replica identity before UPDATE/DELETE:
    the key columns by default, the whole row with REPLICA IDENTITY FULL. An UPDATE that
    kept its key gets the key from `new`, so `old` is None only for INSERT.
    """

    kind: ChangeKind
    schema: str
    table: str
    columns: tuple[Column, ...]
    new: dict[str, str | None] | None
    old: dict[str, str | None] | None
    unchanged_toast: frozenset[str]


@dataclass(frozen=True)
class Transaction:
    """A committed transaction with at least one change, as one unit in commit order.

    Acknowledge it with `WalStream.ack(end_lsn)` once handled.
    """

    xid: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime
    changes: tuple[RowChange, ...]


def format_lsn(lsn: int) -> str:
    """PostgreSQL's text form of a WAL position, e.g. '0/17FE1C8'."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
