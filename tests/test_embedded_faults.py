"""The in-process fault hook of the embedded Realtime: a test holding the app can drop chosen
Broadcasts from Database; nothing outside the process can."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from realtime import RealtimeSubscribeStates

from gateway.embedded.appkeys import faults_key
from tests.db_helpers import send, start_direct_chat
from tests.realtime_helpers import (
    RealtimeStack,
    client,
    collect,
    create_user,
    next_item,
    nothing_arrives,
    options,
)


async def test_a_dropped_database_broadcast_never_arrives_and_the_next_one_does(
    stack: RealtimeStack,
) -> None:
    (a, a_token), (b, _) = [await create_user(stack) for _ in range(2)]
    conn = await asyncpg.connect(stack.database_url)
    rt = client(stack, a_token)
    try:
        chat_id = await start_direct_chat(conn, a, b)
        received: asyncio.Queue[Any] = asyncio.Queue()
        states: asyncio.Queue[Any] = asyncio.Queue()
        channel = rt.channel(f"user:{a}", options(private=True))
        channel.on_broadcast("message", collect(received))
        await channel.subscribe(collect(states))
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED

        asked: list[tuple[str, str, Any]] = []

        def drop(topic: str, event: str, payload: dict[str, Any]) -> bool:
            asked.append((topic, event, payload.get("body")))
            return payload.get("body") == "lost"

        hooks = stack.app[faults_key]
        assert hooks.drop_broadcast is None
        hooks.drop_broadcast = drop
        await send(conn, b, chat_id, "lost")
        await send(conn, b, chat_id, "kept")
        kept = await next_item(received)
        assert (kept["payload"]["body"], kept["payload"]["seq"]) == ("kept", 2)
        assert await nothing_arrives(received)
        # realtime.send wrote one row per member and one on the chat's gateway topic: each
        # was asked about, the sender's too.
        gateway_topic = await conn.fetchval("select chat_private.delivery_topic($1)", chat_id)
        topics = (gateway_topic, *(f"user:{member}" for member in (a, b)))
        assert sorted(asked) == sorted(
            (topic, "message", body) for topic in topics for body in ("lost", "kept")
        )

        hooks.drop_broadcast = None
        await send(conn, b, chat_id, "again")
        assert (await next_item(received))["payload"]["body"] == "again"
    finally:
        await rt.close()
        await conn.close()
