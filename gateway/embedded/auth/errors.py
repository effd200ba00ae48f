"""The Auth API's error catalogue and the one place that turns errors into GoTrue's JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date

from aiohttp import web

log = logging.getLogger(__name__)

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = date(2024, 1, 1)

# GoTrue's error codes (internal/api/apierrors/errorcode.go) that this subset can return.
UNEXPECTED_FAILURE = "unexpected_failure"
VALIDATION_FAILED = "validation_failed"
BAD_JSON = "bad_json"
EMAIL_EXISTS = "email_exists"
PHONE_EXISTS = "phone_exists"
BAD_JWT = "bad_jwt"
NOT_ADMIN = "not_admin"
NO_AUTHORIZATION = "no_authorization"
USER_NOT_FOUND = "user_not_found"
SESSION_NOT_FOUND = "session_not_found"
SESSION_EXPIRED = "session_expired"
REFRESH_TOKEN_NOT_FOUND = "refresh_token_not_found"
REFRESH_TOKEN_ALREADY_USED = "refresh_token_already_used"
USER_BANNED = "user_banned"
USER_ALREADY_EXISTS = "user_already_exists"
EMAIL_NOT_CONFIRMED = "email_not_confirmed"
PHONE_PROVIDER_DISABLED = "phone_provider_disabled"
ANONYMOUS_PROVIDER_DISABLED = "anonymous_provider_disabled"
SAME_PASSWORD = "same_password"
WEAK_PASSWORD = "weak_password"
INVALID_CREDENTIALS = "invalid_credentials"
OVER_REQUEST_RATE_LIMIT = "over_request_rate_limit"

INVALID_LOGIN_MESSAGE = "Invalid login credentials"
DUPLICATE_EMAIL_MESSAGE = "A user with this email address has already been registered"
DUPLICATE_PHONE_MESSAGE = "A user with this phone number has already been registered"


class AuthError(Exception):
    """An error answered to the client as GoTrue would; `reasons` only for weak passwords."""

    def __init__(
        self, status: int, code: str, message: str, *, reasons: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reasons = reasons


def bad_request(code: str, message: str) -> AuthError:
    return AuthError(400, code, message)


def forbidden(code: str, message: str) -> AuthError:
    return AuthError(403, code, message)


def unprocessable(code: str, message: str) -> AuthError:
    return AuthError(422, code, message)


def invalid_credentials() -> AuthError:
    return bad_request(INVALID_CREDENTIALS, INVALID_LOGIN_MESSAGE)


def _speaks_2024(request: web.Request) -> bool:
    """GoTrue's DetermineClosestAPIVersion: a valid date on or after 2024-01-01."""
    raw = request.headers.get(API_VERSION_HEADER, "")
    try:
        return date.fromisoformat(raw) >= API_VERSION_2024 if len(raw) == 10 else False
    except ValueError:
        return False


def error_response(request: web.Request, err: AuthError) -> web.Response:
    # Clients sending the 2024-01-01 version get {"code", "message"} and the version echoed
    # back, which is what makes supabase-py trust `code`; older clients get the legacy shape.
    headers = {"x-sb-error-code": err.code}
    body: dict[str, object]
    if _speaks_2024(request):
        headers[API_VERSION_HEADER] = API_VERSION_2024.isoformat()
        body = {"code": err.code, "message": err.message}
    else:
        body = {"code": err.status, "error_code": err.code, "msg": err.message}
    if err.reasons:
        body["weak_password"] = {"reasons": list(err.reasons)}
    return web.json_response(body, status=err.status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The Auth API's outermost boundary: AuthError → JSON, anything unexpected → 500."""
    try:
        return await handler(request)
    except AuthError as err:
        return error_response(request, err)
    except web.HTTPException:
        raise
    except Exception:
        # The path only: the query string may carry an apikey.
        log.exception("auth: unexpected failure on %s %s", request.method, request.path)
        failure = AuthError(
            500,
            UNEXPECTED_FAILURE,
            "Unexpected failure, please check server logs for more information",
        )
        return error_response(request, failure)
