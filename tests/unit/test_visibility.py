"""gateway/delivery/visibility.py with fakes of its interfaces: blocks hide pairs both
ways and tell listeners each change once; BlockFeed keeps other events flowing, loads
blocks when the topics come up (retrying, and reading again if a block event raced the
read), and says the stream is live only once they are loaded."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.delivery.visibility import BlockFeed, Visibility
from gateway.errors import ErrorCode, GatewayError

WAIT = 5.0


class Router:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.live = asyncio.Event()
        self.downs = 0

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))

    def on_live(self) -> None:
        self.live.set()

    def on_down(self) -> None:
        self.downs += 1


class Database:
    """Answers gateway_blocks from `blocks`; fails the first `failures` calls; `gate`
    holds a read until released."""

    def __init__(self, blocks: list[list[str]], failures: int = 0) -> None:
        self.blocks = blocks
        self.failures = failures
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def call(self, token: str, function: str, params: dict[str, Any]) -> Any:
        self.calls.append((function, params))
        if self.failures:
            self.failures -= 1
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
        if function == "gateway_blocks":
            self.reading.set()
            if self.gate is not None:
                await self.gate.wait()
            return [list(pair) for pair in self.blocks]
        return None


def test_a_block_hides_both_ways_and_each_change_is_heard_once() -> None:
    seen: list[tuple[str, str, bool]] = []
    v = Visibility()
    v.listen(lambda a, b, visible: seen.append((a, b, visible)))
    v.apply("a", "b", True)
    assert v.hidden("a", "b") and v.hidden("b", "a") and not v.hidden("a", "c")
    v.apply("b", "a", True)  # both blocked each other: still one hidden pair, no news
    v.apply("a", "b", False)  # one block lifted, the other stands
    assert v.hidden("a", "b")
    v.apply("b", "a", False)
    assert not v.hidden("a", "b") and not v.hidden("b", "a")
    assert seen == [("a", "b", False), ("b", "a", True)]


def test_replacing_the_set_tells_only_what_changed() -> None:
    seen: list[tuple[str, str, bool]] = []
    v = Visibility()
    v.apply("a", "b", True)
    v.apply("c", "d", True)
    v.listen(lambda a, b, visible: seen.append((a, b, visible)))
    v.replace({("a", "b"), ("e", "f")})
    assert sorted(seen) == [("c", "d", True), ("e", "f", False)]
    assert v.hidden("f", "e") and not v.hidden("c", "d")


async def test_other_events_pass_and_ready_waits_for_the_blocks() -> None:
    router, db, v = Router(), Database([["a", "b"]], failures=2), Visibility()
    feed = BlockFeed(router, v, db, "service", "chats")
    feed.on_event("message", {"member_ids": ["a"]})
    assert router.events == [("message", {"member_ids": ["a"]})]
    feed.on_live()
    assert not router.live.is_set()
    await asyncio.wait_for(router.live.wait(), WAIT)  # after two failed tries
    assert v.hidden("a", "b")
    assert ("gateway_set_presence_visibility", {"visibility": "chats"}) in db.calls
    feed.on_event("block", {"user_id": "a", "peer_id": "b", "blocked": False})
    assert not v.hidden("a", "b") and router.events[-1][0] == "message"
    feed.on_down()
    assert router.downs == 1
    await feed.close()


async def test_a_block_event_during_the_read_makes_it_read_again() -> None:
    router, db, v = Router(), Database([]), Visibility()
    db.gate = asyncio.Event()
    feed = BlockFeed(router, v, db, "service", "everyone")
    feed.on_live()
    await asyncio.wait_for(db.reading.wait(), WAIT)
    # Committed after the read's snapshot: the read's answer would undo it.
    feed.on_event("block", {"user_id": "a", "peer_id": "b", "blocked": True})
    db.blocks = [["a", "b"]]
    db.gate.set()
    await asyncio.wait_for(router.live.wait(), WAIT)
    assert v.hidden("a", "b")
    assert [f for f, _ in db.calls].count("gateway_blocks") == 2
    await feed.close()


async def test_a_malformed_block_event_changes_nothing() -> None:
    router, v = Router(), Visibility()
    feed = BlockFeed(router, v, Database([]), "service", "chats")
    feed.on_event("block", {"user_id": "a", "peer_id": 7, "blocked": True})
    assert not v.hidden("a", "7") and router.events == []
