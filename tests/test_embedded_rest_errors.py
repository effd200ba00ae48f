"""Errors, authentication, schemas and CORS of the embedded Data API: the codes, statuses
and headers PostgREST answers with, as supabase-py and a browser see them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient

from tests.conftest import EmbeddedStack
from tests.rest_helpers import (
    TODOS_SQL,
    Clients,
    create_user,
    raw,
    run_sql,
)


@pytest.fixture
async def service(embedded: EmbeddedStack, clients: Clients) -> AsyncClient:
    await run_sql(embedded, TODOS_SQL)
    return await clients.connect(service=True)


async def test_a_malformed_filter_is_pgrst100_naming_the_position(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    reply = await raw(embedded, "GET", "/todos?id=noop.1", key=embedded.service_key)
    assert reply.status == 400
    assert reply.headers["Proxy-Status"] == "PostgREST; error=PGRST100"
    assert reply.json() == {
        "code": "PGRST100",
        "hint": None,
        "message": '"failed to parse filter (noop.1)" (line 1, column 1)',
        "details": 'unexpected "n" expecting "not" or operator (eq, gt, ...)',
    }
    with pytest.raises(APIError) as logic:
        await service.table("todos").select("*").or_("id.eq.1,title").execute()
    assert logic.value.code == "PGRST100"
    with pytest.raises(APIError) as head:
        await service.table("todos").select("*", head=True).filter("id", "nope", "1").execute()
    assert head.value.code == "PGRST100"  # read from Proxy-Status: HEAD has no body


async def test_unknown_tables_and_columns(embedded: EmbeddedStack, service: AsyncClient) -> None:
    with pytest.raises(APIError) as table:
        await service.table("todo").select("*").execute()
    assert (table.value.code, table.value.hint) == (
        "PGRST205",
        "Perhaps you meant the table 'public.todos'",
    )
    reply = await raw(embedded, "GET", "/nothing_like_it", key=embedded.service_key)
    assert (reply.status, reply.json()["hint"]) == (404, None)
    with pytest.raises(APIError) as column:
        await service.table("todos").select("*").eq("colour", "red").execute()
    assert (column.value.code, column.value.message) == (
        "42703",
        "column todos.colour does not exist",
    )
    with pytest.raises(APIError) as selected:
        await service.table("todos").select("colour").execute()
    assert selected.value.code == "42703"
    with pytest.raises(APIError) as written:
        await service.table("todos").insert({"title": "x", "colour": "red"}).execute()
    assert written.value.code == "PGRST204"


async def test_constraint_violations_are_409(embedded: EmbeddedStack, service: AsyncClient) -> None:
    code = str(uuid.uuid4())
    await service.table("todos").insert({"title": "a", "code": code}).execute()
    with pytest.raises(APIError) as duplicate:
        await service.table("todos").insert({"title": "b", "code": code}).execute()
    assert duplicate.value.code == "23505"
    assert duplicate.value.message == (
        'duplicate key value violates unique constraint "todos_code_key"'
    )
    stranger = str(uuid.uuid4())
    reply = await raw(
        embedded,
        "POST",
        "/todos",
        key=embedded.service_key,
        body=json.dumps({"title": "c", "owner_id": stranger}),
    )
    assert (reply.status, reply.json()["code"]) == (409, "23503")
    assert reply.json()["details"] == (
        f'Key (owner_id)=({stranger}) is not present in table "users".'
    )


async def test_bad_or_expired_tokens_are_401(embedded: EmbeddedStack, service: AsyncClient) -> None:
    user = await create_user(embedded)
    tampered = user.token[:-4] + ("AAAA" if not user.token.endswith("AAAA") else "BBBB")
    reply = await raw(embedded, "GET", "/todos", token=tampered)
    assert (reply.status, reply.json()["code"]) == (401, "PGRST301")
    assert reply.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    garbage = await raw(embedded, "GET", "/todos", token="not-a-jwt")
    assert garbage.json()["message"] == "Expected 3 parts in JWT; got 1"
    expired = embedded.keys.sign(
        {"sub": user.id, "role": "authenticated", "exp": int(time.time()) - 60}
    )
    late = await raw(embedded, "GET", "/todos", token=expired)
    assert (late.status, late.json()["code"], late.json()["message"]) == (
        401,
        "PGRST303",
        "JWT expired",
    )
    assert late.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="JWT expired"'
    )


async def test_a_token_accepted_once_is_refused_once_it_expires(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    """Signatures are verified once and remembered; the expiry is checked on every use."""
    user = await create_user(embedded)
    exp = int(time.time()) + 2
    token = embedded.keys.sign({"sub": user.id, "role": "authenticated", "exp": exp})
    assert (await raw(embedded, "GET", "/todos", token=token)).status == 200
    await asyncio.sleep(exp + 0.05 - time.time())  # what we wait for is the clock: ≤ 2 s
    late = await raw(embedded, "GET", "/todos", token=token)
    assert (late.status, late.json()["code"]) == (401, "PGRST303")


async def test_roles_come_from_the_token(embedded: EmbeddedStack, service: AsyncClient) -> None:
    no_role = embedded.keys.sign({"sub": str(uuid.uuid4())})  # no role, no exp: anon
    anon = await raw(embedded, "GET", "/todos", token=no_role)
    assert (anon.status, anon.json()["code"]) == (401, "42501")  # anon has no grant
    assert anon.headers["WWW-Authenticate"] == "Bearer"
    assert anon.json()["message"] == "permission denied for table todos"
    ghost = embedded.keys.sign({"role": "nobody_here"})
    missing = await raw(embedded, "GET", "/todos", token=ghost)
    assert (missing.status, missing.json()["code"]) == (401, "22023")
    user = await create_user(embedded)
    forbidden = await raw(embedded, "DELETE", "/messages?id=eq.1", token=user.token)
    assert (forbidden.status, forbidden.json()["code"]) == (403, "42501")


async def test_api_keys_may_come_from_the_query_string_or_be_new_style(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    await service.table("todos").insert({"title": "visible to service"}).execute()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{embedded.url}/rest/v1/todos?select=title&apikey={embedded.service_key}"
        ) as resp,
    ):
        assert (resp.status, await resp.json()) == (200, [{"title": "visible to service"}])
    secret = await raw(embedded, "GET", "/todos?select=title", key=embedded.config.secret_key)
    assert secret.json() == [{"title": "visible to service"}]
    publishable = await raw(embedded, "GET", "/todos", key=embedded.config.publishable_key)
    assert publishable.json()["code"] == "42501"  # anon


async def test_only_the_public_schema_is_exposed(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    with pytest.raises(APIError) as error:
        await service.postgrest.schema("auth").from_("users").select("*").execute()
    assert (error.value.code, error.value.message, error.value.hint) == (
        "PGRST106",
        "Invalid schema: auth",
        "Only the following schemas are exposed: public",
    )
    write = await raw(
        embedded,
        "POST",
        "/todos",
        key=embedded.service_key,
        body=json.dumps({"title": "x"}),
        headers={"Content-Profile": "private"},
    )
    assert (write.status, write.json()["code"]) == (406, "PGRST106")
    read = await raw(
        embedded, "GET", "/todos", key=embedded.service_key, headers={"Accept-Profile": "public"}
    )
    assert read.headers["Content-Profile"] == "public"


async def test_paths_methods_and_media_types_outside_the_api(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    deep = await raw(embedded, "GET", "/todos/1", key=embedded.service_key)
    assert (deep.status, deep.json()["code"]) == (404, "PGRST125")
    put = await raw(embedded, "PUT", "/todos?id=eq.1", key=embedded.service_key, body="{}")
    assert (put.status, put.json()["code"]) == (405, "PGRST117")
    patch_rpc = await raw(
        embedded, "PATCH", "/rpc/get_or_create_direct_chat", key=embedded.service_key, body="{}"
    )
    assert (patch_rpc.status, patch_rpc.json()["code"]) == (405, "PGRST101")
    csv = await raw(
        embedded, "GET", "/todos", key=embedded.service_key, headers={"Accept": "text/csv"}
    )
    assert (csv.status, csv.json()["code"]) == (406, "PGRST107")


async def test_spreads_and_aggregates_are_refused_clearly(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    with pytest.raises(APIError) as spread:
        await service.table("chats").select("id, ...chat_members(user_id)").execute()
    assert spread.value.code == "PGRST100"
    assert spread.value.message == (
        "A spread embedding (...) is not supported by the embedded Data API"
    )
    with pytest.raises(APIError) as aggregate:
        await service.table("todos").select("count()").execute()
    assert aggregate.value.code == "PGRST123"
    nested = await raw(
        embedded, "GET", "/chats?chat_members.user_id=eq.1", key=embedded.service_key
    )
    assert (nested.status, nested.json()["code"]) == (400, "PGRST108")


async def test_bad_bodies_and_preferences(embedded: EmbeddedStack, service: AsyncClient) -> None:
    broken = await raw(embedded, "POST", "/todos", key=embedded.service_key, body="{title")
    assert (broken.status, broken.json()["message"]) == (400, "Empty or invalid json")
    uneven = await raw(
        embedded,
        "POST",
        "/todos",
        key=embedded.service_key,
        body=json.dumps([{"title": "a"}, {"done": True}]),
    )
    assert (uneven.json()["code"], uneven.json()["message"]) == (
        "PGRST102",
        "All object keys must match",
    )
    strict = await raw(
        embedded,
        "GET",
        "/todos",
        key=embedded.service_key,
        headers={"Prefer": "handling=strict, count=exact, colour=blue"},
    )
    assert (strict.status, strict.json()["code"], strict.json()["details"]) == (
        400,
        "PGRST122",
        "Invalid preferences: colour=blue",
    )
    lenient = await raw(
        embedded,
        "GET",
        "/todos",
        key=embedded.service_key,
        headers={"Prefer": "count=exact, colour=blue"},
    )
    assert (lenient.status, lenient.headers["Preference-Applied"]) == (200, "count=exact")
    negative = await raw(embedded, "GET", "/todos?limit=-1", key=embedded.service_key)
    assert (negative.status, negative.json()["code"]) == (416, "PGRST103")


async def test_cors_preflight_and_exposed_headers(
    embedded: EmbeddedStack, service: AsyncClient
) -> None:
    preflight = await raw(
        embedded,
        "OPTIONS",
        "/todos",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "apikey, content-type, prefer",
        },
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == (
        "Authorization, apikey, content-type, prefer"
    )
    reply = await raw(
        embedded,
        "GET",
        "/todos",
        key=embedded.service_key,
        headers={"Origin": "http://app.example"},
    )
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in reply.headers["Access-Control-Expose-Headers"]
    error = await raw(embedded, "GET", "/nope", headers={"Origin": "http://app.example"})
    assert error.headers["Access-Control-Allow-Origin"] == "*"
    plain = await raw(embedded, "GET", "/todos", key=embedded.service_key)
    assert "Access-Control-Allow-Origin" not in plain.headers
