"""The feed's event queue: a burst beyond it is never silent — it asks for a position
check (which reads what was dropped from the database) — and what fit is still handed on."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.supabase.feed import Feed
from gateway.supabase.sockets import RealtimeSockets


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))

    def on_live(self) -> None:
        return None

    def on_down(self) -> None:
        return None


class Topics:
    async def delivery_topics(self) -> list[str]:
        return ["chats:0"]

    async def probe(self, topic: str, nonce: str) -> None:
        return None


async def test_an_overflowing_event_queue_asks_for_a_position_check() -> None:
    checks: list[None] = []
    listener = Listener()
    sockets = RealtimeSockets(
        "http://127.0.0.1:9/realtime/v1", "key", gateway_id="gw", max_joins_per_second=10
    )
    feed = Feed(sockets, Topics(), listener, lambda: checks.append(None), queue_max=2)
    for n in range(5):  # one burst from realtime-py's listener, before the consumer runs
        feed.received({"event": "message", "payload": {"n": n}})
    assert len(checks) == 3  # each dropped event asks; the check reads them back
    await feed.start()  # its socket cannot connect (port 9); the consumer runs anyway
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert [payload["n"] for _, payload in listener.events] == [0, 1]
    finally:
        await feed.close()
        await sockets.close()
