"""Realtime's token checks and the exact error texts it gives at each place a token is checked.

The same rejected JWT reads differently on the HTTP upgrade (§1.2), in a join error reply
(§2.4) and in the system message that closes a live channel (§1.7, §1.8).
"""

from __future__ import annotations

import time

import jwt

from gateway.embedded.keys import Claims, KeyRing, TokenError

MISSING_CLAIMS = "Fields `role` and `exp` are required in JWT"
NOT_A_JWT = "The token provided is not a valid JWT"
BAD_SIGNATURE = "Failed to validate JWT signature"
INVALID_EXP = "Token expiration time is invalid"


def verify(keys: KeyRing, token: str | None) -> Claims:
    """Verify a Realtime token: valid signature, `role` and `exp` present, not expired."""
    return keys.verify(token, require=("exp", "role"))


def seconds_to_expiry(claims: Claims) -> float:
    exp = claims.exp
    return 0.0 if exp is None else exp - time.time()


def _kid(token: str | None) -> str | None:
    try:
        kid = jwt.get_unverified_header(token or "").get("kid")
    except jwt.InvalidTokenError:
        return None
    return str(kid) if kid is not None else None


def _signer_error(token: str | None) -> str:
    return (
        f'Failed to generate JWT signer for key ID (kid) "{_kid(token)}",'
        " check your JWT secret or JWKS configuration"
    )


def _expired(err: TokenError) -> str:
    if err.message == INVALID_EXP:
        return INVALID_EXP
    return f"Token has expired {err.expired_seconds} seconds ago"


def upgrade_error(err: TokenError, token: str | None) -> str:
    """The `error` of the 401 body that refuses a WebSocket upgrade."""
    if err.reason == TokenError.MISSING:
        return "API key is missing"
    if err.reason == TokenError.EXPIRED:
        return INVALID_EXP if err.message == INVALID_EXP else "Token has expired"
    if err.reason == TokenError.MISSING_CLAIMS:
        return MISSING_CLAIMS
    if err.reason == TokenError.BAD_SIGNATURE:
        return BAD_SIGNATURE
    if err.reason == TokenError.UNKNOWN_KID:
        return _signer_error(token)
    return NOT_A_JWT


def join_error(err: TokenError, token: str | None) -> tuple[str, str]:
    """Code and message of a join error reply (its reason reads `<Code>: <message>`)."""
    if err.reason == TokenError.EXPIRED:
        return "InvalidJWTToken", _expired(err)
    if err.reason == TokenError.MISSING_CLAIMS:
        return "InvalidJWTToken", MISSING_CLAIMS
    if err.reason == TokenError.BAD_SIGNATURE:
        return "JwtSignatureError", BAD_SIGNATURE
    if err.reason == TokenError.UNKNOWN_KID:
        return "JwtSignerError", _signer_error(token)
    return "MalformedJWT", NOT_A_JWT


def shutdown_message(err: TokenError, token: str | None) -> str:
    """The `message` of the system error that closes a channel whose token failed."""
    if err.reason == TokenError.EXPIRED:
        return _expired(err)
    if err.reason == TokenError.MISSING_CLAIMS:
        return MISSING_CLAIMS
    if err.reason == TokenError.BAD_SIGNATURE:
        return ":signature_error"  # Supabase sends `inspect(:signature_error)` here
    if err.reason == TokenError.UNKNOWN_KID:
        return _signer_error(token)
    return NOT_A_JWT
