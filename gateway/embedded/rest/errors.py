"""The Data API's error catalogue: PostgREST's codes, messages and statuses, and the
mapping of PostgreSQL errors (SQLSTATE) to HTTP, as PostgREST v14 answers them."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from aiohttp import web

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """One error response: `{code, details, hint, message}` plus status and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        hint: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }

    def response(self) -> web.Response:
        headers = {
            "Content-Type": JSON_CONTENT_TYPE,
            # supabase-py reads the code from here when a HEAD error has no body.
            "Proxy-Status": f"PostgREST; error={self.code}",
            **self.headers,
        }
        body = json.dumps(self.payload(), separators=(",", ":")).encode()
        return web.Response(status=self.status, body=body, headers=headers)


# Request errors (PGRST1xx) ----------------------------------------------------------


def query_param_error(message: str, details: str) -> ApiError:
    return ApiError(400, "PGRST100", message, details=details)


def invalid_rpc_method(method: str) -> ApiError:
    return ApiError(405, "PGRST101", f"Cannot use the {method} method on RPC")


def invalid_body(message: str) -> ApiError:
    return ApiError(400, "PGRST102", message)


def invalid_range(details: str) -> ApiError:
    return ApiError(416, "PGRST103", "Requested range not satisfiable", details=details)


def out_of_range(offset: int, total: int) -> ApiError:
    return invalid_range(f"An offset of {offset} was requested, but there are only {total} rows.")


def unacceptable_schema(schema: str, exposed: tuple[str, ...]) -> ApiError:
    return ApiError(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        hint="Only the following schemas are exposed: " + ", ".join(exposed),
    )


def media_type_error(accepted: list[str]) -> ApiError:
    return ApiError(
        406, "PGRST107", "None of these media types are available: " + ", ".join(accepted)
    )


def not_embedded(resource: str, alias: str | None = None) -> ApiError:
    """`alias`: the resource is embedded, but under this alias, which filters must use."""
    if alias is not None:
        return ApiError(
            400,
            "PGRST108",
            f"'{resource}' is not an embedded resource in this request",
            details="Target names are not allowed in filters if they have an alias",
            hint=f"Change '{resource}' to '{alias}' in filters, orders or limits.",
        )
    return ApiError(
        400,
        "PGRST108",
        f"'{resource}' is not an embedded resource in this request",
        hint=f"Verify that '{resource}' is included in the 'select' query parameter.",
    )


def related_order_not_to_one(origin: str, target: str) -> ApiError:
    return ApiError(
        400,
        "PGRST118",
        f"A related order on '{target}' is not possible",
        details=f"'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship",
    )


def singularity_error(rows: int) -> ApiError:
    return ApiError(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        details=f"The result contains {rows} rows",
    )


def unsupported_method(method: str) -> ApiError:
    return ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")


def invalid_preferences(prefs: list[str]) -> ApiError:
    return ApiError(
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        details="Invalid preferences: " + ", ".join(prefs),
    )


def aggregates_not_allowed() -> ApiError:
    return ApiError(400, "PGRST123", "Use of aggregate functions is not allowed")


def max_affected_violation(rows: int) -> ApiError:
    return ApiError(
        400,
        "PGRST124",
        "Query result exceeds max-affected preference constraint",
        details=f"The query affects {rows} rows",
    )


def invalid_resource_path() -> ApiError:
    return ApiError(404, "PGRST125", "Invalid path specified in request URL")


def openapi_disabled() -> ApiError:
    return ApiError(404, "PGRST126", "Root endpoint metadata is disabled")


def embedding_not_supported(resource: str, what: str) -> ApiError:
    # PostgREST would do it; this subset says so plainly instead of guessing.
    return query_param_error(
        f"{what} is not supported by the embedded Data API",
        f"'{resource}' needs it; query the related table separately",
    )


# Schema cache errors (PGRST2xx) -----------------------------------------------------


def no_relationship(
    origin: str, target: str, hint: str | None, schema: str, *, suggestion: str | None
) -> ApiError:
    using = f"' using the hint '{hint}" if hint else ""
    return ApiError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{origin}' and '{target}' in the schema cache",
        details=(
            f"Searched for a foreign key relationship between '{origin}' and '{target}{using}'"
            f" in the schema '{schema}', but no matches were found."
        ),
        hint=suggestion,
    )


def ambiguous_relationship(
    origin: str, target: str, details: list[dict[str, str]], hints: list[str]
) -> ApiError:
    return ApiError(
        300,
        "PGRST201",
        f"Could not embed because more than one relationship was found for '{origin}' and"
        f" '{target}'",
        details=details,
        hint=(
            f"Try changing '{target}' to one of the following: {', '.join(hints)}. Find the"
            " desired relationship in the 'details' key."
        ),
    )


def function_not_found(
    schema: str, name: str, keys: list[str], *, post_json: bool, hint: str | None
) -> ApiError:
    func = f"{schema}.{name}"
    signature = "(" + ", ".join(keys) + ")" if keys else " without parameters"
    if keys:
        searched = (" with parameters " if len(keys) > 1 else " with parameter ") + ", ".join(keys)
    else:
        searched = " without parameters"
    if post_json:
        searched += " or with a single unnamed json/jsonb parameter"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {func}{signature} in the schema cache",
        details=f"Searched for the function {func}{searched}, but no matches were found in "
        "the schema cache.",
        hint=hint,
    )


def ambiguous_function(candidates: list[str]) -> ApiError:
    return ApiError(
        300,
        "PGRST203",
        "Could not choose the best candidate function between: " + ", ".join(candidates),
        hint="Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    )


def column_not_found(table: str, column: str) -> ApiError:
    return ApiError(
        400, "PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache"
    )


def table_not_found(schema: str, name: str, hint: str | None) -> ApiError:
    return ApiError(
        404,
        "PGRST205",
        f"Could not find the table '{schema}.{name}' in the schema cache",
        hint=hint,
    )


def undefined_column(table: str, column: str) -> ApiError:
    # What PostgreSQL itself answers (42703) when a read names a column that is not there.
    return ApiError(400, "42703", f"column {table}.{column} does not exist")


# JWT errors (PGRST3xx) --------------------------------------------------------------


def jwt_error(code: str, message: str, details: str | None = None) -> ApiError:
    header = 'Bearer error="invalid_token", error_description=' + json.dumps(message)
    return ApiError(401, code, message, details=details, headers={"WWW-Authenticate": header})


# PostgreSQL errors --------------------------------------------------------------------

_PREFIX_STATUS = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}
_EXACT_STATUS = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
}


def _sqlstate_status(sqlstate: str, message: str, *, anon: bool) -> int:
    if sqlstate in _EXACT_STATUS:
        return _EXACT_STATUS[sqlstate]
    if sqlstate == "42501":
        return 401 if anon else 403
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if sqlstate.startswith("PT"):
        try:
            status = int(sqlstate[2:])
        except ValueError:
            return 500
        return status if 100 <= status <= 599 else 500
    return _PREFIX_STATUS.get(sqlstate[:2], 400)


def _raised_pgrst(exc: asyncpg.PostgresError) -> ApiError:
    """RAISE SQLSTATE 'PGRST' with JSON MESSAGE and DETAIL: the function picks everything."""
    try:
        body = json.loads(exc.message)
        control = json.loads(exc.detail or "")
        status = int(control["status"])
        headers = {str(k): str(v) for k, v in dict(control.get("headers") or {}).items()}
        return ApiError(
            status,
            str(body["code"]),
            str(body["message"]),
            details=body.get("details"),
            hint=body.get("hint"),
            headers=headers,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return ApiError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            details=f"Invalid JSON value for DETAIL: '{exc.detail}'",
            hint="DETAIL must be a JSON object with obligatory keys: 'status', "
            "'headers' and optional key: 'status_text'.",
        )


# admin_shutdown, crash_shutdown, cannot_connect_now: the server is stopping or starting.
_SERVER_GOING = frozenset({"57P01", "57P02", "57P03"})


def from_postgres(exc: asyncpg.PostgresError, *, anon: bool) -> ApiError:
    """The response PostgREST gives for an error raised by PostgreSQL."""
    sqlstate = exc.sqlstate or "XX000"
    if sqlstate == "PGRST":
        return _raised_pgrst(exc)
    if sqlstate.startswith("08") or sqlstate in _SERVER_GOING:
        # The connection died under the query (PostgreSQL killed, restarting, shutting
        # down): PostgREST reports a lost connection as PGRST000 and retries, not as the
        # statement's error, so callers know to retry.
        return connection_error(exc.message or type(exc).__name__)
    message = exc.message or str(exc)
    status = _sqlstate_status(sqlstate, message, anon=anon)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ApiError(status, sqlstate, message, details=exc.detail, hint=exc.hint, headers=headers)


def connection_error(reason: str = "") -> ApiError:
    """PostgREST's answer while its database is unreachable (its ConnectionUsageError):
    503, PGRST000, libpq's reason as details; it reconnects meanwhile, as our pool does."""
    return ApiError(
        503, "PGRST000", "Database connection error. Retrying the connection.", details=reason
    )
