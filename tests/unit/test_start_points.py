"""Start points are read many users per query under a burst of connects, at once for a
lone connect, and a failed read fails exactly the sockets that waited for it."""

from __future__ import annotations

import asyncio

import pytest

from gateway.delivery.rows import ChatStart
from gateway.delivery.start_points import StartPointReader
from gateway.errors import ErrorCode, GatewayError


class Source:
    """Answers each call when the test releases it; records the users of each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gates: list[asyncio.Future[None]] = []
        self.fail: GatewayError | None = None
        self.called = asyncio.Event()  # set on every call

    async def start_points(self, user_ids: list[str]) -> dict[str, list[ChatStart]]:
        self.calls.append(user_ids)
        self.called.set()
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate
        if self.fail is not None:
            raise self.fail
        return {u: [ChatStart(f"chat-{u}", 7, "peer")] for u in user_ids if u != "lonely"}

    def release_all(self) -> None:
        for gate in self.gates:
            if not gate.done():
                gate.set_result(None)

    async def calls_reach(self, count: int) -> None:
        async with asyncio.timeout(2.0):
            while len(self.calls) < count:
                self.called.clear()
                await self.called.wait()


async def test_a_lone_connect_is_read_at_once_with_its_own_chats() -> None:
    source = Source()
    reader = StartPointReader(source)
    read = asyncio.ensure_future(reader.read("alice"))
    await source.calls_reach(1)
    assert source.calls == [["alice"]]
    source.release_all()
    assert await read == [ChatStart("chat-alice", 7, "peer")]


async def test_a_burst_waits_for_free_slots_and_goes_many_users_per_query() -> None:
    source = Source()
    reader = StartPointReader(source, max_batch=50, max_in_flight=2)
    users = [f"u{i:03}" for i in range(202)]
    reads = [asyncio.ensure_future(reader.read(u)) for u in users]
    await source.calls_reach(2)
    assert source.calls == [["u000"], ["u001"]]  # the first two found free slots
    for count in (4, 6):  # each ended read frees a slot
        source.release_all()
        await source.calls_reach(count)
    source.release_all()
    answers = await asyncio.gather(*reads)
    # As each read ended, up to 50 users that had waited meanwhile went together.
    assert [len(call) for call in source.calls] == [1, 1, 50, 50, 50, 50]
    assert sorted(u for call in source.calls for u in call) == users
    assert answers == [[ChatStart(f"chat-{u}", 7, "peer")] for u in users]


async def test_a_user_with_no_chats_starts_from_nothing() -> None:
    source = Source()
    reader = StartPointReader(source)
    read = asyncio.ensure_future(reader.read("lonely"))
    await source.calls_reach(1)
    source.release_all()
    assert await read == []


async def test_a_failed_read_fails_each_socket_that_waited_for_it_and_no_other() -> None:
    source = Source()
    reader = StartPointReader(source, max_in_flight=1)
    first = asyncio.ensure_future(reader.read("alice"))
    await source.calls_reach(1)
    waiting = [asyncio.ensure_future(reader.read(u)) for u in ("bob", "carol")]
    await asyncio.sleep(0)
    source.fail = GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE)
    source.release_all()
    with pytest.raises(GatewayError) as caught:
        await first
    assert caught.value.error is ErrorCode.UPSTREAM_UNAVAILABLE
    await source.calls_reach(2)  # the next batch still runs
    assert source.calls[1] == ["bob", "carol"]
    source.fail = None
    source.release_all()
    assert await asyncio.gather(*waiting) == [
        [ChatStart("chat-bob", 7, "peer")],
        [ChatStart("chat-carol", 7, "peer")],
    ]


async def test_a_socket_that_leaves_while_waiting_is_not_read() -> None:
    source = Source()
    reader = StartPointReader(source, max_in_flight=1)
    first = asyncio.ensure_future(reader.read("alice"))
    await source.calls_reach(1)
    gone = asyncio.ensure_future(reader.read("bob"))
    staying = asyncio.ensure_future(reader.read("carol"))
    await asyncio.sleep(0)
    gone.cancel()
    source.release_all()
    await first
    await source.calls_reach(2)
    assert source.calls[1] == ["carol"]
    source.release_all()
    assert await staying == [ChatStart("chat-carol", 7, "peer")]
    assert gone.cancelled()


async def test_close_cancels_reads_under_way() -> None:
    source = Source()
    reader = StartPointReader(source)
    read = asyncio.ensure_future(reader.read("alice"))
    await source.calls_reach(1)
    await reader.close()
    with pytest.raises(asyncio.CancelledError):
        await read
