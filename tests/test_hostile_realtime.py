"""Going around the gateway through Realtime: a signed-in user cannot join the gateways'
`chats:<k>` topics nor another user's `user:<id>` as private channels, and joining the
same names as public channels hears nothing of what the database publishes there.

Followed: Supabase Realtime authorises a private channel's join by RLS `select` on
`realtime.messages` for that topic, and keeps private and public subscribers of one topic
name apart (`realtime.send(..., private => true)` reaches only private channels).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from tests.db_helpers import committed_as
from tests.realtime_helpers import (
    RealtimeStack,
    client,
    collect,
    create_user,
    next_item,
    nothing_arrives,
    options,
)

DENIED = "You do not have permissions to read from this Channel topic"


async def join(
    rt: AsyncRealtimeClient, topic: str, *, private: bool, heard: asyncio.Queue[Any] | None = None
) -> tuple[Any, Any]:
    channel = rt.channel(topic, options(private=private))
    if heard is not None:
        channel.on_broadcast("message", collect(heard))
    states: asyncio.Queue[Any] = asyncio.Queue()
    await channel.subscribe(collect(states))
    result: tuple[Any, Any] = await next_item(states)
    return result


async def test_nobody_hears_another_users_messages_through_realtime(stack: RealtimeStack) -> None:
    (alice, alice_token), (bob, _) = await create_user(stack), await create_user(stack)
    _, mallory_token = await create_user(stack)
    conn = await asyncpg.connect(stack.database_url)
    try:
        async with committed_as(conn, alice):
            chat = str(await conn.fetchval("select public.get_or_create_direct_chat($1)", bob))
        topics = [r["t"] for r in await conn.fetch("select public.gateway_delivery_topics() t")]
        chat_topic = await conn.fetchval("select chat_private.delivery_topic($1)", chat)
    finally:
        await conn.close()
    # One client per kind of join: realtime-py keeps one channel object per topic name.
    rt, public = client(stack, mallory_token), client(stack, mallory_token)
    own = client(stack, alice_token)
    overheard: asyncio.Queue[Any] = asyncio.Queue()
    delivered: asyncio.Queue[Any] = asyncio.Queue()
    try:
        for topic in [*topics, f"user:{alice}", f"user:{bob}"]:
            state, error = await join(rt, topic, private=True)
            assert state == RealtimeSubscribeStates.CHANNEL_ERROR, topic
            assert str(error) == f'{{"reason": "Unauthorized: {DENIED}: {topic}"}}'
        for topic in [chat_topic, f"user:{alice}", f"user:{bob}"]:  # same names, public
            state, _ = await join(public, topic, private=False, heard=overheard)
            assert state == RealtimeSubscribeStates.SUBSCRIBED
        state, _ = await join(own, f"user:{alice}", private=True, heard=delivered)
        assert state == RealtimeSubscribeStates.SUBSCRIBED
        conn = await asyncpg.connect(stack.database_url)
        try:
            async with committed_as(conn, alice):
                await conn.execute("select public.send_direct_message($1, 'secret', null)", bob)
        finally:
            await conn.close()
        assert (await next_item(delivered))["payload"]["body"] == "secret"  # it was published
        assert await nothing_arrives(overheard)
    finally:
        for each in (rt, public, own):
            await each.close()
