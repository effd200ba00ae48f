"""Request bodies of the Auth API (one schema each) and GoTrue's input checks."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.embedded.auth.errors import (
    BAD_JSON,
    VALIDATION_FAILED,
    WEAK_PASSWORD,
    AuthError,
    bad_request,
)

MIN_PASSWORD_LENGTH = 6  # the Supabase CLI's default
MAX_PASSWORD_LENGTH = 72  # GoTrue's cap (bcrypt's limit), kept for identical answers

# checkmail.ValidateFormat, which GoTrue uses.
_EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_E164 = re.compile(r"^[1-9][0-9]{1,14}$")


class _Body(BaseModel):
    # Unknown fields are ignored, as GoTrue's JSON decoding does: clients send extras such
    # as `gotrue_meta_security` and `code_challenge`.
    model_config = ConfigDict(extra="ignore", frozen=True)


class SignupParams(_Body):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None


class PasswordGrantParams(_Body):
    email: str | None = None
    phone: str | None = None
    password: str | None = None


class RefreshGrantParams(_Body):
    refresh_token: str | None = None


class UserUpdateParams(_Body):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None


class AdminUserParams(_Body):
    id: str | None = None
    aud: str | None = None
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    password_hash: str | None = None
    email_confirm: bool = False
    phone_confirm: bool = False
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    ban_duration: str | None = None


class AdminDeleteParams(_Body):
    should_soft_delete: bool = False


Params = TypeVar("Params", bound=_Body)


async def read_params(
    request: web.Request, schema: type[Params], *, empty_ok: bool = False
) -> Params:
    """The JSON body as `schema`; 400 bad_json when it is not that shape."""
    body = await request.read()
    if not body.strip() and empty_ok:
        return schema()
    try:
        return schema.model_validate_json(body or b"")
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        raise bad_request(BAD_JSON, f"Could not parse request body as JSON: {detail}") from None


def valid_email(email: str) -> str:
    """GoTrue's validateEmail: required, at most 255 characters, well formed; lower-cased."""
    if not email:
        raise bad_request(VALIDATION_FAILED, "An email address is required")
    if len(email) > 255:
        raise bad_request(VALIDATION_FAILED, "An email address is too long")
    if not _EMAIL.match(email):
        raise bad_request(VALIDATION_FAILED, "Unable to validate email address: invalid format")
    return email.lower()


def valid_phone(phone: str) -> str:
    """GoTrue's validatePhone: `+` and spaces dropped, then E.164 digits."""
    digits = phone.removeprefix("+").replace(" ", "")
    if not _E164.match(digits):
        raise bad_request(VALIDATION_FAILED, "Invalid phone number format (E.164 required)")
    return digits


def weak_password(password: str) -> AuthError | None:
    """GoTrue's checkPasswordStrength for the CLI's defaults (length only)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return bad_request(
            VALIDATION_FAILED, f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        return AuthError(
            422,
            WEAK_PASSWORD,
            f"Password should be at least {MIN_PASSWORD_LENGTH} characters.",
            reasons=("length",),
        )
    return None


def check_password(password: str) -> None:
    problem = weak_password(password)
    if problem is not None:
        raise problem
