"""A row of auth.users and its JSON form, shaped like GoTrue's user model (the password
hash stays on the dataclass and never reaches JSON)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

USER_COLUMNS = (
    "id, aud, role, email, phone, encrypted_password, email_confirmed_at, phone_confirmed_at,"
    " confirmed_at, invited_at, confirmation_sent_at, recovery_sent_at, email_change,"
    " email_change_sent_at, phone_change, phone_change_sent_at, reauthentication_sent_at,"
    " last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,"
    " banned_until, deleted_at, is_anonymous"
)

# Identities are derived from the user row (there is no auth.identities table); a fixed
# namespace keeps each identity_id stable across requests.
_IDENTITY_NAMESPACE = uuid.UUID("6f1c2b0e-5d4a-4c1e-9a43-1d2f0b7e8c55")


def iso(value: datetime | None) -> str | None:
    """Go's RFC 3339 rendering of a timestamp, in UTC with a `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    aud: str
    role: str
    email: str
    phone: str
    encrypted_password: str | None
    email_confirmed_at: datetime | None
    phone_confirmed_at: datetime | None
    confirmed_at: datetime | None
    invited_at: datetime | None
    confirmation_sent_at: datetime | None
    recovery_sent_at: datetime | None
    email_change: str
    email_change_sent_at: datetime | None
    phone_change: str
    phone_change_sent_at: datetime | None
    reauthentication_sent_at: datetime | None
    last_sign_in_at: datetime | None
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    banned_until: datetime | None
    deleted_at: datetime | None
    is_anonymous: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> User:
        return cls(
            id=row["id"],
            aud=row["aud"] or "",
            role=row["role"] or "",
            email=row["email"] or "",
            phone=row["phone"] or "",
            encrypted_password=row["encrypted_password"],
            email_confirmed_at=row["email_confirmed_at"],
            phone_confirmed_at=row["phone_confirmed_at"],
            confirmed_at=row["confirmed_at"],
            invited_at=row["invited_at"],
            confirmation_sent_at=row["confirmation_sent_at"],
            recovery_sent_at=row["recovery_sent_at"],
            email_change=row["email_change"] or "",
            email_change_sent_at=row["email_change_sent_at"],
            phone_change=row["phone_change"] or "",
            phone_change_sent_at=row["phone_change_sent_at"],
            reauthentication_sent_at=row["reauthentication_sent_at"],
            last_sign_in_at=row["last_sign_in_at"],
            app_metadata=dict(row["raw_app_meta_data"] or {}),
            user_metadata=dict(row["raw_user_meta_data"] or {}),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            banned_until=row["banned_until"],
            deleted_at=row["deleted_at"],
            is_anonymous=bool(row["is_anonymous"]),
        )

    def is_banned(self, now: datetime) -> bool:
        return self.banned_until is not None and now < self.banned_until

    def identities(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for provider, value in (("email", self.email), ("phone", self.phone)):
            if not value:
                continue
            data: dict[str, Any] = {
                provider: value,
                "email_verified": False,
                "phone_verified": False,
                "sub": str(self.id),
            }
            identity: dict[str, Any] = {
                "identity_id": str(uuid.uuid5(_IDENTITY_NAMESPACE, f"{self.id}:{provider}")),
                "id": str(self.id),
                "user_id": str(self.id),
                "identity_data": data,
                "provider": provider,
                "last_sign_in_at": iso(self.last_sign_in_at or self.created_at),
                "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at),
            }
            if provider == "email":
                identity["email"] = value
            found.append(identity)
        return found

    def to_json(self) -> dict[str, Any]:
        """GoTrue's field order; `omitempty` fields only when set."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "aud": self.aud,
            "role": self.role,
            "email": self.email,
        }
        _put(out, "email_confirmed_at", iso(self.email_confirmed_at))
        _put(out, "invited_at", iso(self.invited_at))
        out["phone"] = self.phone
        _put(out, "phone_confirmed_at", iso(self.phone_confirmed_at))
        _put(out, "confirmation_sent_at", iso(self.confirmation_sent_at))
        _put(out, "confirmed_at", iso(self.confirmed_at))
        _put(out, "recovery_sent_at", iso(self.recovery_sent_at))
        _put(out, "new_email", self.email_change)
        _put(out, "email_change_sent_at", iso(self.email_change_sent_at))
        _put(out, "new_phone", self.phone_change)
        _put(out, "phone_change_sent_at", iso(self.phone_change_sent_at))
        _put(out, "reauthentication_sent_at", iso(self.reauthentication_sent_at))
        _put(out, "last_sign_in_at", iso(self.last_sign_in_at))
        out["app_metadata"] = self.app_metadata
        out["user_metadata"] = self.user_metadata
        out["identities"] = self.identities()
        out["created_at"] = iso(self.created_at)
        out["updated_at"] = iso(self.updated_at)
        _put(out, "banned_until", iso(self.banned_until))
        _put(out, "deleted_at", iso(self.deleted_at))
        out["is_anonymous"] = self.is_anonymous
        return out


def _put(out: dict[str, Any], key: str, value: str | None) -> None:
    if value:
        out[key] = value


def merge_metadata(current: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """GoTrue's metadata update: keys are set one by one, and a null removes the key."""
    merged = dict(current)
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
