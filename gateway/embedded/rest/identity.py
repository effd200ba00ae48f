"""Who a Data API request acts as: the JWT chosen by the API-key gateway rule, verified
as PostgREST verifies it (exp only if present; no role means anon), or anon."""

from __future__ import annotations

import jwt
from aiohttp import web

from gateway.embedded.keys import HMAC_ALGORITHMS, Claims, KeyRing, TokenError
from gateway.embedded.rest.errors import ApiError, jwt_error

ANON = Claims({"role": "anon"})


def _decode_error(token: str) -> ApiError:
    parts = token.count(".") + 1
    if parts != 3:
        return jwt_error("PGRST301", f"Expected 3 parts in JWT; got {parts}")
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        return jwt_error("PGRST301", "JWT cryptographic operation failed")
    if alg not in (*HMAC_ALGORITHMS, "ES256"):
        return jwt_error("PGRST301", "Wrong or unsupported encoding algorithm")
    return jwt_error("PGRST301", "JWT cryptographic operation failed")


def _token_error(token: str, error: TokenError) -> ApiError:
    if error.reason == TokenError.EXPIRED:
        return jwt_error("PGRST303", "JWT expired")
    if error.reason in (TokenError.BAD_SIGNATURE, TokenError.UNKNOWN_KID):
        return jwt_error(
            "PGRST301",
            "No suitable key or wrong key type",
            "None of the keys was able to decode the JWT",
        )
    return _decode_error(token)


class Authenticator:
    """The claims a request acts with (each token's signature is verified once, its expiry
    on every use: see KeyRing.verify)."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def claims(self, request: web.Request) -> Claims:
        apikey = request.headers.get("apikey") or request.query.get("apikey")
        token = self._keys.bearer_for(apikey, request.headers.get("Authorization"))
        if token is None:
            return ANON
        try:
            return self._keys.verify(token, require=())
        except TokenError as error:
            raise _token_error(token, error) from None
