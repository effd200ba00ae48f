"""The Data API client shared by every user keeps no cookies: what one user's answer sets
never reaches another user's request."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.supabase.http_transport import AiohttpTransport, DataApiClient, data_api_session


async def test_a_cookie_set_for_one_call_is_not_sent_with_the_next() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "alice-only")
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with (
            data_api_session() as session,
            DataApiClient(transport=AiohttpTransport(session)) as client,
        ):
            # By name: aiohttp's default jar would keep a cookie for a host name (an IP's
            # it refuses anyway), as it would for <ref>.supabase.co.
            url = f"http://localhost:{server.port}/"
            first = await client.get(url)
            second = await client.get(url)
        assert first.json() == {"ok": True} and second.status_code == 200
        assert seen == [None, None]
    finally:
        await server.close()
