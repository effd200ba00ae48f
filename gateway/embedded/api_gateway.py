"""The API gateway's key check in front of /rest/v1, /auth/v1 and /realtime/v1, as Supabase's.

Self-hosted Supabase runs Kong's key-auth plugin on those routes with the project's four
keys (anon, publishable, service_role, secret) as its only credentials; hosted Supabase
does the same at its edge. Kong looks for `apikey` in the headers first, then in the query
string; an empty value is no key. The answers carry the hosted platform's bodies, CORS
headers (Kong's cors plugin runs first, so a browser can read them) and, for a missing key,
Kong's `WWW-Authenticate`. Realtime's own paths (/socket/websocket, /api/broadcast) are
Realtime without the gateway, as on a self-hosted Realtime port: its JWT check guards them.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.config import EmbeddedConfig

__all__ = ["GATED_PREFIXES", "OPEN_PREFIXES", "require_api_key"]

log = logging.getLogger(__name__)

GATED_PREFIXES = ("/rest/v1", "/auth/v1", "/realtime/v1")
# Kong's open Auth routes: browsers reach them through redirects or fetch keys, no apikey.
OPEN_PREFIXES = (
    "/auth/v1/verify",
    "/auth/v1/callback",
    "/auth/v1/authorize",
    "/auth/v1/.well-known/jwks.json",
)
KEY_NAME = "apikey"
NO_KEY = {
    "message": "No API key found in request",
    "hint": "No `apikey` request header or url param was found.",
}
BAD_KEY = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}
DUPLICATE_KEY = {"message": "Duplicate API key found"}
KONG_REALM = 'Key realm="kong"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_gated(path: str) -> bool:
    gated = any(path == prefix or path.startswith(prefix + "/") for prefix in GATED_PREFIXES)
    return gated and not path.startswith(OPEN_PREFIXES)


def project_keys(config: EmbeddedConfig) -> tuple[str, ...]:
    keys = (config.anon_key, config.publishable_key, config.service_key, config.secret_key)
    return tuple(key for key in keys if key)


def _known(key: str, keys: tuple[str, ...]) -> bool:
    # Every key is compared, so the time taken does not tell which one came close.
    matches = [hmac.compare_digest(key.encode(), known.encode()) for known in keys]
    return any(matches)


def _refusal(request: web.Request, body: dict[str, str], *, realm: bool = False) -> web.Response:
    headers = {"Access-Control-Allow-Origin": "*"} if "Origin" in request.headers else {}
    if realm:  # Kong names its realm only when no key came at all
        headers["WWW-Authenticate"] = KONG_REALM
    return web.json_response(body, status=401, headers=headers)


def check_api_key(request: web.Request, keys: tuple[str, ...]) -> web.Response | None:
    """Kong key-auth on one request: None when it may pass, else the 401 to answer with."""
    found = request.headers.getall(KEY_NAME, None) or request.query.getall(KEY_NAME, None)
    if found is None:
        return _refusal(request, NO_KEY, realm=True)
    if len(found) > 1:
        return _refusal(request, DUPLICATE_KEY)
    key = found[0]
    if not key:
        return _refusal(request, NO_KEY, realm=True)
    if not _known(key, keys):
        log.info("request refused: not a project API key (%s %s)", request.method, request.path)
        return _refusal(request, BAD_KEY)
    return None


def require_api_key(config: EmbeddedConfig) -> Middleware:
    """The middleware; preflights pass (Kong's cors plugin answers them before key-auth)."""
    keys = project_keys(config)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "OPTIONS" and is_gated(request.path):
            refusal = check_api_key(request, keys)
            if refusal is not None:
                return refusal
        return await handler(request)

    return middleware
