"""The API gateway in front of /rest/v1, /auth/v1 and /realtime/v1 asks for a project API key,
as Supabase's gateway does: Kong's key-auth plugin on every route of the self-hosted stack
(supabase/supabase `docker/volumes/api/kong.yml`: anon, publishable, service_role and secret
keys are its only credentials; `/auth/v1/verify`, `/callback`, `/authorize` and
`/.well-known/jwks.json` stay open), with the hosted platform's bodies: 401
`{"message":"No API key found in request","hint":...}` (captured in s0ooo0k/TIL#22) and
`{"message":"Invalid API key","hint":...}` (nuxt-modules/supabase#195). Kong looks in the
`apikey` header first, then the `apikey` query parameter (`kong/plugins/key-auth/handler.lua`).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import EmbeddedStack
from tests.embedded_auth_helpers import API_VERSION, PASSWORD, new_email
from tests.realtime_helpers import RealtimeStack, client, raw_socket

NO_KEY = {
    "message": "No API key found in request",
    "hint": "No `apikey` request header or url param was found.",
}
BAD_KEY = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}


async def call(
    url: str, method: str = "GET", *, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers or {}, json=body) as resp,
    ):
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, dict(resp.headers), payload


async def test_sign_up_without_an_api_key_is_refused_and_creates_no_user(
    embedded: EmbeddedStack,
) -> None:
    email = new_email()
    body = {"email": email, "password": PASSWORD}
    status, headers, payload = await call(f"{embedded.url}/auth/v1/signup", "POST", body=body)
    assert (status, payload) == (401, NO_KEY)
    assert headers["WWW-Authenticate"] == 'Key realm="kong"'
    listing = await call(
        f"{embedded.url}/auth/v1/admin/users",
        headers={"apikey": embedded.service_key, "Authorization": f"Bearer {embedded.service_key}"},
    )
    assert email not in {user["email"] for user in listing[2]["users"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/v1/token?grant_type=password"),
        ("GET", "/auth/v1/user"),
        ("GET", "/auth/v1/health"),
        ("GET", "/auth/v1/settings"),
        ("GET", "/rest/v1/todos"),
        ("POST", "/rest/v1/rpc/anything"),
        ("POST", "/realtime/v1/api/broadcast"),
        ("GET", "/realtime/v1/websocket"),
    ],
)
async def test_every_gated_path_refuses_a_request_without_a_key(
    embedded: EmbeddedStack, method: str, path: str
) -> None:
    status, _, payload = await call(embedded.url + path, method)
    assert (status, payload) == (401, NO_KEY)


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "sb_publishable_not_ours",
        "",  # an empty header is a key that is not there
    ],
)
async def test_a_key_that_is_not_one_of_the_projects_keys_is_refused(
    embedded: EmbeddedStack, key: str
) -> None:
    status, _, payload = await call(f"{embedded.url}/rest/v1/todos", headers={"apikey": key})
    assert (status, payload) == (401, BAD_KEY if key else NO_KEY)


async def test_a_user_access_token_is_no_api_key(embedded: EmbeddedStack) -> None:
    # Kong matches the key against its consumers' credentials: a user's JWT is none of them.
    async with aiohttp.ClientSession() as session:
        signup = await session.post(
            f"{embedded.url}/auth/v1/signup",
            json={"email": new_email(), "password": PASSWORD},
            headers={"apikey": embedded.anon_key},
        )
        token = (await signup.json())["access_token"]
    status, _, payload = await call(f"{embedded.url}/rest/v1/todos", headers={"apikey": token})
    assert (status, payload) == (401, BAD_KEY)


async def test_each_project_key_opens_the_gate_from_the_header_or_the_query(
    embedded: EmbeddedStack,
) -> None:
    config = embedded.config
    for key in (config.anon_key, config.service_key, config.publishable_key, config.secret_key):
        by_header = await call(f"{embedded.url}/auth/v1/health", headers={"apikey": key})
        by_query = await call(f"{embedded.url}/auth/v1/health?apikey={key}")
        assert (by_header[0], by_query[0]) == (200, 200)


async def test_the_header_wins_over_the_query_parameter(embedded: EmbeddedStack) -> None:
    url = f"{embedded.url}/auth/v1/health?apikey={embedded.anon_key}"
    status, _, payload = await call(url, headers={"apikey": "garbage"})
    assert (status, payload) == (401, BAD_KEY)


async def test_two_api_keys_in_one_request_are_refused(embedded: EmbeddedStack) -> None:
    key = embedded.anon_key
    status, _, payload = await call(f"{embedded.url}/auth/v1/health?apikey={key}&apikey={key}")
    assert (status, payload) == (401, {"message": "Duplicate API key found"})


async def test_the_jwks_and_the_browser_redirect_routes_stay_open(embedded: EmbeddedStack) -> None:
    status, _, payload = await call(f"{embedded.url}/auth/v1/.well-known/jwks.json")
    assert status == 200 and payload["keys"]
    for path in ("/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize"):
        assert (await call(embedded.url + path))[0] != 401


async def test_a_browser_reads_the_refusal_and_its_preflight_passes(
    embedded: EmbeddedStack,
) -> None:
    origin = {"Origin": "https://app.example"}
    status, headers, _ = await call(f"{embedded.url}/rest/v1/todos", headers=origin)
    assert (status, headers["Access-Control-Allow-Origin"]) == (401, "*")
    preflight = await call(
        f"{embedded.url}/rest/v1/todos",
        "OPTIONS",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight[0] == 200


async def test_auth_errors_behind_the_gate_keep_gotrue_codes(embedded: EmbeddedStack) -> None:
    status, _, payload = await call(
        f"{embedded.url}/auth/v1/user",
        headers={"apikey": embedded.anon_key, "Authorization": "Bearer garbage", **API_VERSION},
    )
    assert (status, payload["code"]) == (403, "bad_jwt")


async def test_a_realtime_socket_needs_a_project_key(stack: RealtimeStack) -> None:
    url = stack.url.replace("http", "ws") + "/realtime/v1/websocket?vsn=1.0.0"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with raw_socket(url):
            pass
    assert refused.value.status == 401
    rt = client(stack, apikey="not-a-key")
    with pytest.raises(Exception, match="HTTP 401"):
        await rt.connect()
