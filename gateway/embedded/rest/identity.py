"""Who a Data API request acts as: the JWT chosen by the API-key gateway rule, verified
as PostgREST verifies it (exp only if present; no role means anon), or anon."""

from __future__ import annotations

import time

import jwt
from aiohttp import web

from gateway.embedded.keys import HMAC_ALGORITHMS, Claims, KeyRing, TokenError
from gateway.embedded.rest.errors import ApiError, jwt_error

ANON = Claims({"role": "anon"})
# Tokens kept verified, least recently used dropped first: more than the users active at
# once (with 1,000 FIFO, 2,000 active users missed on nearly every request).
CACHE_SIZE = 10_000


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
    """Verifies each token once (like PostgREST's JWT cache); its expiry on every use."""

    def __init__(self, keys: KeyRing, size: int = CACHE_SIZE) -> None:
        self._keys = keys
        self._size = size
        self._verified: dict[str, Claims] = {}

    def claims(self, request: web.Request) -> Claims:
        apikey = request.headers.get("apikey") or request.query.get("apikey")
        token = self._keys.bearer_for(apikey, request.headers.get("Authorization"))
        if token is None:
            return ANON
        cached = self._verified.pop(token, None)
        if cached is not None and (cached.exp is None or cached.exp > time.time()):
            self._verified[token] = cached  # now the most recently used
            return cached
        try:
            claims = self._keys.verify(token, require=())
        except TokenError as error:
            raise _token_error(token, error) from None
        if len(self._verified) >= self._size:
            del self._verified[next(iter(self._verified))]  # the least recently used
        self._verified[token] = claims
        return claims
