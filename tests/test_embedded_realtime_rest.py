"""The REST broadcast API: single sends (realtime-py `http_send`) and batches."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import aiohttp
import pytest
from realtime.exceptions import RealtimeHTTPError

from tests.realtime_helpers import (
    RealtimeStack,
    client,
    collect,
    join_payload,
    next_item,
    nothing_arrives,
    options,
    raw_socket,
    user_broadcast,
)

PRIVATE = options(private=True)


async def post(stack: RealtimeStack, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"apikey": stack.anon_key, **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(stack.realtime_url + path, headers=headers, **kwargs) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body


async def test_http_send_reaches_v1_and_v2_subscribers(stack: RealtimeStack) -> None:
    listener, sender = client(stack), client(stack)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await listener.channel("news:1").on_broadcast("*", collect(heard)).subscribe()
        async with raw_socket(stack.ws_url(vsn="2.0.0")) as js:
            await js.send(["1", "1", "realtime:news:1", "phx_join", join_payload()])
            await js.recv()
            await sender.channel("news:1").http_send("headline", {"title": "hi"})
            assert await next_item(heard) == {"event": "headline", "payload": {"title": "hi"}}
            assert await js.recv() == user_broadcast(
                "realtime:news:1", "headline", b'{"title":"hi"}', json=True
            )

            await sender.channel("news:1").http_send("blob", b"\x01\x02")
            assert await js.recv() == user_broadcast(
                "realtime:news:1", "blob", b"\x01\x02", json=False
            )
            assert await nothing_arrives(heard)  # binary never reaches V1 clients
    finally:
        await listener.close()
        await sender.close()


async def test_a_private_http_send_needs_write_permission(stack: RealtimeStack) -> None:
    anon, service = client(stack), client(stack, stack.service_key)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await service.channel("vault", PRIVATE).on_broadcast("*", collect(heard)).subscribe()
        with pytest.raises(RealtimeHTTPError) as refused:
            await anon.channel("vault", PRIVATE).http_send("e", {"x": 1})
        assert (refused.value.status, str(refused.value)) == (403, "Unauthorized")
        await service.channel("vault", PRIVATE).http_send("e", {"x": 2})
        assert await next_item(heard) == {"event": "e", "payload": {"x": 2}}
    finally:
        await anon.close()
        await service.close()


async def test_a_json_body_that_is_not_an_object_is_wrapped(stack: RealtimeStack) -> None:
    async with raw_socket(stack.ws_url(vsn="2.0.0")) as js:
        await js.send(["1", "1", "realtime:news:1", "phx_join", join_payload()])
        await js.recv()
        status, _ = await post(stack, "/api/broadcast/news:1/events/list", json=[1, 2])
        assert status == 202
        assert await js.recv() == user_broadcast(
            "realtime:news:1", "list", b'{"_json":[1,2]}', json=True
        )


async def test_a_batch_delivers_public_messages_and_skips_private_ones_it_may_not_write(
    stack: RealtimeStack,
) -> None:
    public, private = client(stack), client(stack, stack.service_key)
    to_public: asyncio.Queue[Any] = asyncio.Queue()
    to_private: asyncio.Queue[Any] = asyncio.Queue()
    message_id = str(uuid.uuid4())
    try:
        await public.channel("room").on_broadcast("*", collect(to_public)).subscribe()
        await private.channel("room", PRIVATE).on_broadcast("*", collect(to_private)).subscribe()
        batch = {
            "messages": [
                {"topic": "room", "event": "a", "payload": {"n": 1}, "id": message_id},
                {"topic": "room", "event": "b", "payload": {"n": 2}, "private": True},
            ]
        }
        assert await post(stack, "/api/broadcast", json=batch) == (202, b"")
        assert await next_item(to_public) == {
            "event": "a",
            "payload": {"n": 1},
            "meta": {"id": message_id},
        }
        assert await nothing_arrives(to_private)

        headers = {"Authorization": f"Bearer {stack.service_key}"}
        assert await post(stack, "/api/broadcast", json=batch, headers=headers) == (202, b"")
        assert (await next_item(to_private))["payload"] == {"n": 2}
    finally:
        await public.close()
        await private.close()


async def test_requests_without_a_valid_token_are_unauthorized(stack: RealtimeStack) -> None:
    # Realtime's own paths, as on a self-hosted Realtime port: no API gateway in front.
    for headers in ({"apikey": "nope"}, {"apikey": "", "Authorization": "Bearer nope"}):
        for path in ("/api/broadcast", "/api/broadcast/t/events/e"):
            async with (
                aiohttp.ClientSession() as session,
                session.post(stack.url + path, json={}, headers=headers) as resp,
            ):
                assert (resp.status, await resp.json()) == (401, {"message": "Unauthorized"})


async def test_invalid_requests_get_supabase_errors(stack: RealtimeStack) -> None:
    status, body = await post(
        stack, "/api/broadcast/t/events/e", data="x", headers={"Content-Type": "text/plain"}
    )
    assert (status, body) == (
        415,
        {"error": "Unsupported Media Type. Use application/json or application/octet-stream"},
    )
    assert await post(stack, "/api/broadcast", json={}) == (
        422,
        {"errors": {"messages": ["can't be blank"]}},
    )
    batch = {
        "messages": [{"topic": "t", "event": "e", "payload": {}}, {"topic": "t", "payload": "x"}]
    }
    assert await post(stack, "/api/broadcast", json=batch) == (
        422,
        {"errors": {"messages": [{}, {"event": ["can't be blank"], "payload": ["is invalid"]}]}},
    )
    too_big = io.BytesIO(json.dumps({"blob": "x" * 3_100_000}).encode())
    headers = {"Content-Type": "application/json"}
    assert await post(stack, "/api/broadcast/t/events/e", data=too_big, headers=headers) == (
        422,
        {"errors": {"payload": ["Payload size exceeds tenant limit"]}},
    )
