"""The REST boundary: catalogue errors become JSON bodies, anything else a logged 500;
and CORS from the configured allow-list."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.api.limits import RateLimited
from gateway.errors import ErrorCode, GatewayError
from gateway.services import services_key

log = logging.getLogger(__name__)

_HTTP_TO_CODE = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_REQUEST,
    413: ErrorCode.FRAME_TOO_LARGE,
}


def _error_response(err: GatewayError) -> web.Response:
    response = web.json_response(err.body(), status=err.status)
    if isinstance(err, RateLimited):
        response.headers["Retry-After"] = err.retry_after_header
    return response


def ascii_token(token: str | None) -> str | None:
    """An access token as the verifier may take it. JWTs are ASCII (base64url and dots);
    invalid UTF-8 in a header reaches us as lone surrogates (aiohttp decodes with
    surrogateescape), which no JWT library can encode: refused here as malformed."""
    if token is not None and not token.isascii():
        raise GatewayError(ErrorCode.TOKEN_INVALID, "malformed token")
    return token


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[services_key].metrics
    try:
        return await handler(request)
    except GatewayError as err:
        metrics.error(err.code)
        # The path only: a query string may carry a token.
        log.info("request refused %s %s code=%s", request.method, request.path, err.code)
        return _error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_TO_CODE.get(exc.status, ErrorCode.INVALID_REQUEST)
        metrics.error(code.code)
        return web.json_response(GatewayError(code, exc.reason).body(), status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        metrics.error(ErrorCode.INTERNAL.code)
        return _error_response(GatewayError(ErrorCode.INTERNAL))


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    allowed = request.app[services_key].config.server.cors_origins
    origin = request.headers.get("Origin")
    permitted = origin is not None and origin in allowed
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        response: web.StreamResponse = web.Response(status=204 if permitted else 403)
    else:
        response = await handler(request)
    if permitted and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response
