"""Access-token claims and the session JSON, as GoTrue's token service builds them."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from gateway.embedded.auth.models import User
from gateway.embedded.auth.sessions import SessionGrant
from gateway.embedded.keys import KeyRing


def access_token_claims(
    user: User,
    session_id: uuid.UUID,
    signed_in_at: datetime,
    *,
    issuer: str,
    now: int,
    expiry_seconds: int,
) -> dict[str, Any]:
    """GoTrue's AccessTokenClaims, in its order; every session here began with a password."""
    return {
        "iss": issuer,
        "sub": str(user.id),
        "aud": user.aud,
        "exp": now + expiry_seconds,
        "iat": now,
        "email": user.email,
        "phone": user.phone,
        "app_metadata": user.app_metadata,
        "user_metadata": user.user_metadata,
        "role": user.role,
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": int(signed_in_at.timestamp())}],
        "session_id": str(session_id),
        "is_anonymous": user.is_anonymous,
    }


def session_json(
    keys: KeyRing,
    user: User,
    grant: SessionGrant,
    *,
    issuer: str,
    weak_password: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The /token and /signup answer: a freshly signed access token plus the refresh token."""
    expiry = keys.config.jwt_expiry_seconds
    now = int(time.time())
    claims = access_token_claims(
        user,
        grant.session_id,
        grant.signed_in_at,
        issuer=issuer,
        now=now,
        expiry_seconds=expiry,
    )
    body: dict[str, Any] = {
        "access_token": keys.sign(claims),
        "token_type": "bearer",
        "expires_in": expiry,
        "expires_at": now + expiry,
        "refresh_token": grant.refresh_token,
        "user": user.to_json(),
    }
    if weak_password is not None:
        body["weak_password"] = weak_password
    return body
