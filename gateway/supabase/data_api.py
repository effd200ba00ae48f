"""The Data API client: postgrest-py builds each request, our HTTP/1.1 pool carries it.

postgrest-py (the official client) decides what a query looks like on the wire — the
path, the query string of filters, the headers such as `Prefer`, the JSON body —, so
the gateway speaks PostgREST exactly as supabase-py does. Sending through postgrest-py
means httpx: a Request, a Response and a pydantic model per call, which measured under
load at 50-65% of the gateway's CPU. Here the built request goes out on one shared pool
of keep-alive connections (`http11`) and its JSON answer is read directly.

One pool serves every user, each request carrying its user's token; it keeps no
cookies, so nothing one user's answer sets can ride along on another's request.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from postgrest import AsyncPostgrestClient
from postgrest.base_request_builder import RequestConfig
from yarl import URL

from gateway.supabase.http11 import HttpPool

__all__ = ["DataApi", "DataApiError", "data_api_pool"]

log = logging.getLogger(__name__)

# What the pool computes itself, or what must not travel on a shared connection.
_SKIP = frozenset({"host", "content-length", "transfer-encoding", "connection", "cookie"})


class DataApiError(Exception):
    """The Data API answered with an error (or could not be reached: code is None and
    status 0). `code` is PostgREST's (e.g. "PGRST301") or PostgreSQL's SQLSTATE."""

    def __init__(self, status: int, code: str | None, message: str = "") -> None:
        super().__init__(f"HTTP {status} code={code}")
        self.status = status
        self.code = code
        self.message = message


class _NoHttpx(httpx.AsyncBaseTransport):
    """postgrest-py wants an httpx client to build requests with; nothing may be sent
    through it (every request goes through `DataApi`'s own pool)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("Data API requests are sent by DataApi, not httpx")


def data_api_pool(rest_url: str, timeout_seconds: float = 10.0, connections: int = 200) -> HttpPool:
    """The one pool behind every user's Data API calls."""
    url = URL(rest_url)
    return HttpPool(str(url.origin()), connections=connections, timeout_seconds=timeout_seconds)


class DataApi:
    def __init__(self, rest_url: str, apikey: str, pool: HttpPool) -> None:
        self._pool = pool
        self.builder = AsyncPostgrestClient(
            rest_url,
            headers={"apikey": apikey},
            http_client=httpx.AsyncClient(transport=_NoHttpx()),
        )
        # rpc/<function> → (method, path, headers) as postgrest-py built them the first time.
        self._rpc: dict[str, tuple[str, str, dict[str, str]]] = {}

    async def execute(self, token: str, request: RequestConfig[Any]) -> Any:
        """Send a request postgrest-py built, as the holder of `token`; the decoded JSON
        answer (None for an empty one). Raises DataApiError."""
        target: str = request.path.raw_path
        if query := str(request.params):
            target = f"{target}?{query}"
        return await self._send(token, request.http_method, target, _headers(request), request.json)

    async def rpc(self, token: str, function: str, params: dict[str, Any]) -> Any:
        """`rpc/<function>` with these arguments. postgrest-py builds the request once per
        function; later calls reuse its method, path and headers with their own body (the
        builder cost ~7% of the gateway's CPU under load, one per message)."""
        template = self._rpc.get(function)
        if template is None:
            request = self.builder.rpc(function, {}).request
            template = (request.http_method, request.path.raw_path, _headers(request))
            self._rpc[function] = template
        method, target, headers = template
        return await self._send(token, method, target, dict(headers), params)

    async def _send(
        self, token: str, method: str, target: str, headers: dict[str, str], payload: Any
    ) -> Any:
        headers["authorization"] = f"Bearer {token}"
        body: bytes | None = None
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers.setdefault("content-type", "application/json")
        try:
            response = await self._pool.request(method, target, headers, body)
        except (OSError, TimeoutError) as err:  # ConnectionError is an OSError
            log.warning("Data API unreachable: %s", type(err).__name__)
            raise DataApiError(0, None) from None
        status, raw = response.status, response.body
        if 200 <= status < 300:
            return json.loads(raw) if raw else None
        raise _error(status, raw)


def _headers(request: RequestConfig[Any]) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k not in _SKIP}


def _error(status: int, raw: bytes) -> DataApiError:
    """PostgREST's error body is {"code", "message", "details", "hint"}; what is in front
    of it (an API gateway's 502/504) may answer with anything."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return DataApiError(status, body["code"], str(body.get("message") or ""))
    return DataApiError(status, None)
