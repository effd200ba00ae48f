"""Recovery on fakes of the core's own interfaces: holes filled from the history, a lost
last message found by the position check, a failed fill tried again, resume."""

from __future__ import annotations

from tests.core_fakes import Core, World

A, B = "a" * 8, "b" * 8


async def test_a_hole_is_filled_from_the_history() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    b, sink = await core.connect(B)
    for _ in range(3):
        world.commit("ab", A)
    core.deliver(2)  # 3 arrives; 1 and 2 were lost
    await core.recovery.drain()
    await core.settle(b)
    assert sink.messages("ab") == [1, 2, 3]


async def test_a_lost_last_message_is_found_by_the_position_check() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    b, sink = await core.connect(B)
    await core.positions.check()  # sets the clock
    world.commit("ab", A)
    world.in_flight.clear()  # Realtime lost it, and nothing comes after it
    assert await core.positions.check() == 1
    await core.settle(b)
    assert sink.messages("ab") == [1]


async def test_the_position_check_leaves_chats_that_are_up_to_date_alone() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    b, sink = await core.connect(B)
    await core.positions.check()
    world.commit("ab", A)
    core.deliver()
    assert await core.positions.check() == 0
    await core.settle(b)
    assert sink.messages("ab") == [1]


async def test_a_failed_hole_fill_is_tried_again_by_the_position_check() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    b, sink = await core.connect(B)
    await core.positions.check()
    world.commit("ab", A)
    world.commit("ab", A)
    world.failing_history = True
    core.deliver(1)  # 2 arrives; the fill of 1 fails
    await core.recovery.drain()
    world.failing_history = False
    await core.settle(b)
    assert sink.messages("ab") == [1, 2]


async def test_resume_replays_after_since_then_live_in_order() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    for _ in range(4):
        world.commit("ab", A)
    world.in_flight.clear()
    core = Core(world)
    b, sink = await core.connect(B)
    b.resume("ab", 1)
    world.commit("ab", A)
    core.deliver()  # 5 arrives live before the history: it waits behind it
    await core.recovery.catch_up(b, "ab", 1)
    await core.settle(b)
    assert sink.messages("ab") == [2, 3, 4, 5]
