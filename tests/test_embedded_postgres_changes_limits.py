"""Postgres Changes filters are no weapon: a filter never runs on a row its subscriber cannot
see, a slow filter holds up neither broadcasts nor other subscribers, and a channel over the
embedded stack's limits (filter time, changes waiting) is shut down alone.

Followed: supabase/realtime accepts `match`/`imatch` (regex) filters
(migrations 20260626120000_readd_postgrest_filter_ops: subscription_check_filters only checks
the pattern compiles) and evaluates them in SQL (check_equality_op) for every subscription,
before RLS, without a time limit (apply_rls). We accept the same filters and give the same
verdicts (an event needs both its filters and RLS), but check RLS before any SQL filter and
bound filter time per channel. A shut-down channel gets Supabase's shutdown_response: a
`system` error, then `phx_close`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from realtime import RealtimeSubscribeStates

from gateway.embedded.realtime import RealtimeSettings
from tests.postgres_changes_helpers import (
    TODOS,
    Event,
    Subscriber,
    direct_chat,
    execute,
    realtime,
    send_message,
    subscriber,
)
from tests.realtime_helpers import (
    FAST,
    RealtimeStack,
    collect,
    create_user,
    next_item,
    nothing_arrives,
    options,
    realtime_stack,
)

# PostgreSQL's regex engine backtracks through the back-references for a string that starts
# with "Sec" (polynomially: seconds at 60 characters), and rejects any other string at once.
# That difference is the timing oracle a filter on other people's rows would be.
SLOW = r"^Sec(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)\8\7\6\5\4\3\2\1$"
SECRET = "Sec" + "a" * 70  # well over 10 s of regex work, unbounded


@pytest.fixture
def settings() -> RealtimeSettings:
    return FAST


@pytest.fixture
async def stack(
    database_url: str, tmp_path: Path, settings: RealtimeSettings
) -> AsyncIterator[RealtimeStack]:
    async with realtime_stack(database_url, tmp_path, settings) as s:
        yield s


def limits(**changes: Any) -> RealtimeSettings:
    return dataclasses.replace(FAST, **changes)


async def _shutdown_message(sub: Subscriber, within: float = 5.0) -> str:
    """The system error a shut-down channel gets (realtime-py reports it as CHANNEL_ERROR)."""
    state, error = await next_item(sub.states, within)
    assert state == RealtimeSubscribeStates.CHANNEL_ERROR, (state, error)
    payload = json.loads(str(error))
    assert (payload["extension"], payload["status"]) == ("system", "error")
    assert (await next_item(sub.states))[0] == RealtimeSubscribeStates.CLOSED
    message: str = payload["message"]
    return message


@pytest.mark.parametrize("settings", [limits(postgres_changes_filter_timeout_ms=300)])
async def test_a_filter_never_runs_on_rows_its_subscriber_cannot_see(stack: RealtimeStack) -> None:
    (a, _), (b, _), (c, c_token), (d, _) = [await create_user(stack) for _ in range(4)]
    theirs, mine = await direct_chat(stack, a, b), await direct_chat(stack, c, d)
    async with realtime(stack, c_token) as rt:
        spy = await subscriber(
            rt,
            "spy",
            {"event": Event.Insert, "table": "messages", "filter": f"body=match.{SLOW}"},
            {"event": Event.Insert, "table": "messages", "filter": f"chat_id=eq.{mine}"},
        )
        await send_message(stack, a, theirs, SECRET)  # c is no member: RLS hides the row
        await send_message(stack, d, mine, "marker")
        marker = await next_item(spy.queues[1])
        assert marker["data"]["record"]["body"] == "marker"
        # Had the regex run on the secret, it would have hit its 300 ms limit by now.
        assert spy.states.empty() and spy.queues[0].empty()

        # The same text in c's own chat: the filter runs, and its time limit shuts it down.
        await send_message(stack, d, mine, SECRET)
        message = await _shutdown_message(spy)
        assert message == "Postgres Changes filters took longer than 300 ms on a change"


@pytest.mark.parametrize("settings", [limits(postgres_changes_filter_timeout_ms=3000)])
async def test_a_slow_filter_holds_up_neither_broadcasts_nor_other_subscribers(
    stack: RealtimeStack,
) -> None:
    (a, a_token), (b, b_token) = [await create_user(stack) for _ in range(2)]
    chat_id = await direct_chat(stack, a, b)
    async with realtime(stack, a_token) as rt_a, realtime(stack, b_token) as rt_b:
        hostile = await subscriber(
            rt_b,
            "hostile",
            {"event": Event.Insert, "table": "messages", "filter": f"body=match.{SLOW}"},
        )
        watcher = await subscriber(rt_a, "watcher", {"event": Event.Insert, "table": "messages"})
        broadcasts: asyncio.Queue[Any] = asyncio.Queue()
        inbox = rt_a.channel(f"user:{a}", options(private=True))
        inbox.on_broadcast("message", collect(broadcasts))
        states: asyncio.Queue[Any] = asyncio.Queue()
        await inbox.subscribe(collect(states))
        assert (await next_item(states))[0] == RealtimeSubscribeStates.SUBSCRIBED

        await send_message(stack, b, chat_id, SECRET)
        change = await next_item(watcher.events)
        broadcast = await next_item(broadcasts)
        assert change["data"]["record"]["body"] == broadcast["payload"]["body"] == SECRET
        # Both arrived while the hostile filter was still running, within its 3 s limit.
        assert hostile.states.empty()
        message = await _shutdown_message(hostile, within=10.0)
        assert message == "Postgres Changes filters took longer than 3000 ms on a change"

        await send_message(stack, b, chat_id, "after")  # and delivery goes on
        assert (await next_item(watcher.events))["data"]["record"]["body"] == "after"
        assert await nothing_arrives(hostile.events)


@pytest.mark.parametrize(
    "settings",
    [limits(postgres_changes_filter_timeout_ms=20_000, postgres_changes_queue_max=3)],
)
async def test_a_channel_too_far_behind_is_shut_down_alone(stack: RealtimeStack) -> None:
    """Supabase shuts a channel over its tenant's rate down with this message."""
    await execute(stack, TODOS)
    async with realtime(stack) as rt:
        slow = await subscriber(rt, "slow", {"table": "todos", "filter": f"title=match.{SLOW}"})
        quick = await subscriber(rt, "quick", {"table": "todos"})
        for n in range(5):  # the slow channel is busy with the first for seconds
            await execute(stack, "insert into todos (id, title) values ($1, $2)", n, SECRET)
            assert (await next_item(quick.events))["data"]["record"]["id"] == n
        assert await _shutdown_message(slow) == "Too many messages per second"
        await execute(stack, "insert into todos (id, title) values (5, 'more')")
        assert (await next_item(quick.events))["data"]["record"]["id"] == 5
