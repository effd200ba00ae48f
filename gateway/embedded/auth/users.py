"""SQL on auth.users, run as the superuser like GoTrue; a unique clash comes back as
`DuplicateUser` so each route can answer with its own error code."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from gateway.embedded.auth.models import USER_COLUMNS, User

# Columns an update may set; names are interpolated into SQL, so only these are allowed.
UPDATABLE = frozenset(
    {
        "role",
        "email",
        "phone",
        "encrypted_password",
        "email_confirmed_at",
        "phone_confirmed_at",
        "raw_app_meta_data",
        "raw_user_meta_data",
        "banned_until",
        "deleted_at",
    }
)

_CONSTRAINT_FIELDS = {
    "users_email_partial_key": "email",
    "users_phone_key": "phone",
    "users_pkey": "id",
}


class DuplicateUser(Exception):
    """Another user already has this email, phone or id (`field`)."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"duplicate {field_name}")
        self.field = field_name


@dataclass(frozen=True)
class NewUser:
    aud: str
    role: str
    email: str | None
    phone: str | None
    encrypted_password: str
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    email_confirmed: bool = False
    phone_confirmed: bool = False
    banned_until: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def _duplicate(err: asyncpg.UniqueViolationError) -> DuplicateUser:
    return DuplicateUser(_CONSTRAINT_FIELDS.get(err.constraint_name or "", "email"))


async def find_by_id(
    conn: asyncpg.Connection, user_id: uuid.UUID, *, for_update: bool = False
) -> User | None:
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(f"select {USER_COLUMNS} from auth.users where id = $1{lock}", user_id)
    return User.from_row(row) if row is not None else None


async def find_by_email(conn: asyncpg.Connection, email: str, aud: str) -> User | None:
    row = await conn.fetchrow(
        f"select {USER_COLUMNS} from auth.users"
        " where lower(email) = lower($1) and aud = $2 and is_sso_user = false",
        email,
        aud,
    )
    return User.from_row(row) if row is not None else None


async def phone_taken(conn: asyncpg.Connection, phone: str, aud: str) -> bool:
    found = await conn.fetchval(
        "select exists (select 1 from auth.users where phone = $1 and aud = $2)", phone, aud
    )
    return bool(found)


async def insert_user(conn: asyncpg.Connection, new: NewUser) -> User:
    try:
        row = await conn.fetchrow(
            "insert into auth.users (instance_id, id, aud, role, email, phone,"
            " encrypted_password, email_confirmed_at, phone_confirmed_at, raw_app_meta_data,"
            " raw_user_meta_data, banned_until, created_at, updated_at, is_anonymous)"
            " values ('00000000-0000-0000-0000-000000000000', $1, $2, $3, $4, $5, $6,"
            " case when $7 then now() end, case when $8 then now() end, $9, $10, $11,"
            f" now(), now(), false) returning {USER_COLUMNS}",
            new.id,
            new.aud,
            new.role,
            new.email,
            new.phone,
            new.encrypted_password,
            new.email_confirmed,
            new.phone_confirmed,
            new.app_metadata,
            new.user_metadata,
            new.banned_until,
        )
    except asyncpg.UniqueViolationError as err:
        raise _duplicate(err) from None
    return User.from_row(row)


async def update_user(
    conn: asyncpg.Connection, user_id: uuid.UUID, changes: Mapping[str, Any]
) -> User:
    """Set the given columns (and updated_at); returns the user as stored."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    names = list(changes)
    assignments = "".join(f"{name} = ${i + 2}, " for i, name in enumerate(names))
    try:
        row = await conn.fetchrow(
            f"update auth.users set {assignments}updated_at = now() where id = $1"
            f" returning {USER_COLUMNS}",
            user_id,
            *(changes[name] for name in names),
        )
    except asyncpg.UniqueViolationError as err:
        raise _duplicate(err) from None
    if row is None:
        raise LookupError(f"user {user_id} vanished")
    return User.from_row(row)


async def list_users(
    conn: asyncpg.Connection, aud: str, *, page: int, per_page: int, search: str
) -> tuple[list[User], int]:
    """One page, newest first, and the total; `search` matches email or full_name."""
    where = "aud = $1"
    args: list[Any] = [aud]
    if search:
        where += " and (email like $2 or raw_user_meta_data->>'full_name' ilike $2)"
        args.append(f"%{search}%")
    total = await conn.fetchval(f"select count(*) from auth.users where {where}", *args)
    rows = await conn.fetch(
        f"select {USER_COLUMNS} from auth.users where {where}"
        f" order by created_at desc, id desc limit ${len(args) + 1} offset ${len(args) + 2}",
        *args,
        per_page,
        (page - 1) * per_page,
    )
    return [User.from_row(row) for row in rows], int(total)


async def delete_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Sessions and refresh tokens go with the user (foreign keys cascade)."""
    await conn.execute("delete from auth.users where id = $1", user_id)
