"""The Data API client: what postgrest-py builds reaches the server unchanged, each call
carries its own caller's token and no cookie, and answers become rows or errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.errors import ErrorCode, GatewayError
from gateway.supabase.data_api import DataApi, data_api_pool
from gateway.supabase.store import Store

Seen = list[dict[str, Any]]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen: Seen = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.raw_path.partition("?")[2],
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        answer = request.headers.get("X-Answer", "rows")
        if answer == "pgrst":
            return web.json_response(
                {"code": "PGRST303", "message": "JWT expired", "details": None, "hint": None},
                status=401,
            )
        if answer == "gateway":
            return web.Response(status=502, text="<html>Bad Gateway</html>")
        if answer == "sql":
            return web.json_response({"code": "XX000", "message": "boom"}, status=500)
        response = web.json_response([{"id": "c1"}])
        response.set_cookie("session", "alice-only")
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    try:
        # By name: aiohttp's default jar would keep a cookie for a host name (an IP's it
        # refuses anyway), as it would for <ref>.supabase.co.
        yield f"http://localhost:{srv.port}/rest/v1", seen
    finally:
        await srv.close()


async def test_a_query_reaches_the_server_as_postgrest_py_built_it(
    server: tuple[str, Seen],
) -> None:
    url, seen = server
    pool = data_api_pool(url)
    api = DataApi(url, "anon-key", pool)
    query = api.builder.table("chats").select("id").eq("direct_key", "a:b c").limit(1)
    rows = await api.execute("alice-token", query.request)
    await api.execute("bob-token", api.builder.rpc("send_direct_message", {"x": "1"}).request)
    await pool.close()
    assert rows == [{"id": "c1"}]
    get, post = seen
    assert (get["method"], get["path"]) == ("GET", "/rest/v1/chats")
    assert get["query"] == "select=id&direct_key=eq.a%3Ab+c&limit=1"
    assert get["headers"]["Authorization"] == "Bearer alice-token"
    assert get["headers"]["apikey"] == "anon-key"
    assert (post["method"], post["path"], post["body"]) == (
        "POST",
        "/rest/v1/rpc/send_direct_message",
        {"x": "1"},
    )
    assert post["headers"]["Authorization"] == "Bearer bob-token"
    assert post["headers"]["Content-Type"] == "application/json"


async def test_a_cookie_set_for_one_call_is_not_sent_with_the_next(
    server: tuple[str, Seen],
) -> None:
    url, seen = server
    pool = data_api_pool(url)
    api = DataApi(url, "anon-key", pool)
    for token in ("alice-token", "bob-token"):
        await api.execute(token, api.builder.table("chats").select("id").request)
    await pool.close()
    assert [call["headers"].get("Cookie") for call in seen] == [None, None]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("pgrst", ErrorCode.TOKEN_EXPIRED),  # PostgREST's own code, from its JSON
        ("gateway", ErrorCode.UPSTREAM_UNAVAILABLE),  # an API gateway's HTML 502: retry
        ("sql", ErrorCode.INTERNAL),  # an error we have no code for
    ],
)
async def test_errors_map_to_the_catalogue(
    server: tuple[str, Seen], answer: str, code: ErrorCode
) -> None:
    url, _ = server
    pool = data_api_pool(url)
    store = Store(DataApi(url, "anon-key", pool))
    store._client.headers["X-Answer"] = answer  # every request built from now on
    with pytest.raises(GatewayError) as caught:
        await store.chats("alice-token")
    await pool.close()
    assert caught.value.error is code


async def test_an_unreachable_data_api_is_unavailable_not_internal() -> None:
    url = "http://127.0.0.1:9/rest/v1"
    store = Store(DataApi(url, "anon-key", data_api_pool(url)))
    with pytest.raises(GatewayError) as caught:
        await store.chats("alice-token")
    assert caught.value.error is ErrorCode.UPSTREAM_UNAVAILABLE


async def test_rpc_sends_what_postgrest_py_builds_for_each_call(
    server: tuple[str, Seen],
) -> None:
    """rpc() reuses postgrest-py's request per function; each call still carries its own
    token and arguments, exactly as a freshly built request would."""
    url, seen = server
    pool = data_api_pool(url)
    api = DataApi(url, "anon-key", pool)
    built = api.builder.rpc("send_direct_message", {"peer_id": "p", "body": "b"}).request
    await api.execute("alice-token", built)
    await api.rpc("alice-token", "send_direct_message", {"peer_id": "p", "body": "b"})
    await api.rpc("bob-token", "send_direct_message", {"peer_id": "q", "body": "c"})
    await pool.close()
    fresh, cached, other = seen
    assert cached == fresh
    assert other["headers"]["Authorization"] == "Bearer bob-token"
    assert other["body"] == {"peer_id": "q", "body": "c"}
