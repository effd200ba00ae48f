"""CORS as PostgREST's middleware answers it: only when the request has an Origin; any
origin allowed; preflights name the methods and echo the requested headers."""

from __future__ import annotations

from aiohttp import web

ALLOWED_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
EXPOSED_HEADERS = (
    "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, "
    "Location, Server, Transfer-Encoding, Range-Unit"
)
MAX_AGE = str(24 * 60 * 60)


def preflight(request: web.Request) -> web.Response | None:
    """The answer to an OPTIONS preflight, or None when this is no preflight."""
    if (
        request.method != "OPTIONS"
        or "Origin" not in request.headers
        or "Access-Control-Request-Method" not in request.headers
    ):
        return None
    requested = request.headers.get("Access-Control-Request-Headers", "")
    allowed = ["Authorization", *(h.strip() for h in requested.split(",") if h.strip())]
    return web.Response(
        status=200,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ", ".join(allowed),
            "Access-Control-Max-Age": MAX_AGE,
        },
    )


def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if "Origin" in request.headers:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        response.headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)
