"""The router and start points on fakes of the core's own interfaces: routing by local
membership, early events during the start-point read, second devices, scopes, typing and
read receipts, and a user's last socket leaving."""

from __future__ import annotations

from tests.core_fakes import Core, World, flushed

A, B, C = "a" * 8, "b" * 8, "c" * 8


async def test_a_message_reaches_every_local_member_once_and_nobody_else() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    a, a_sink = await core.connect(A)
    b, b_sink = await core.connect(B)
    c, c_sink = await core.connect(C)
    world.commit("ab", A)
    core.deliver(keep=True)
    core.deliver()  # Realtime repeats itself
    await flushed(a, b, c)
    assert a_sink.messages("ab") == [1]
    assert b_sink.messages("ab") == [1]
    assert c_sink.messages() == []


async def test_events_during_the_start_point_read_wait_and_the_start_point_drops_old_ones() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    world.commit("ab", A)  # history; its event was delivered to nobody here
    world.in_flight.clear()
    core = Core(world)

    async def meanwhile() -> None:
        world.commit("ab", A)  # committed after the read's snapshot
        core.deliver()  # arrives while the read is on its way

    world.during_read = meanwhile
    b, sink = await core.connect(B)
    world.during_read = None
    await flushed(b)
    assert world.snapshots[-1] == {"ab": 1}
    assert sink.messages("ab") == [2]
    assert sink.frames[-1] == {"type": "ready"}  # after what it was owed


async def test_a_second_device_starts_where_the_users_stream_stands() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    first, first_sink = await core.connect(B)
    world.commit("ab", A)
    core.deliver()
    reads = len(world.snapshots)
    second, second_sink = await core.connect(B)
    assert len(world.snapshots) == reads  # no read for a second device
    world.commit("ab", A)
    core.deliver()
    await flushed(first, second)
    assert first_sink.messages("ab") == [1, 2]
    assert second_sink.messages("ab") == [2]


async def test_a_peer_socket_gets_only_its_peers_chat_and_events() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    world.add_chat("bc", [B, C])
    core = Core(world)
    with_a, sink = await core.connect(B, peer=A)
    world.commit("ab", A)
    world.commit("bc", C)
    core.deliver_all()
    core.router.on_event("typing", {"chat_id": "bc", "user_id": C, "member_ids": [B, C]})
    core.router.on_event("typing", {"chat_id": "ab", "user_id": A, "member_ids": [A, B]})
    core.router.on_event("read", {"chat_id": "ab", "user_id": A, "seq": 1, "member_ids": [A, B]})
    await flushed(with_a)
    kinds = [
        (f["type"], f.get("chat_id") or f.get("message", {}).get("chat_id")) for f in sink.frames
    ]
    assert kinds == [("ready", None), ("message", "ab"), ("typing", "ab"), ("read", "ab")]


async def test_typing_is_not_echoed_to_the_typist() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    a, sink = await core.connect(A)
    core.router.on_event("typing", {"chat_id": "ab", "user_id": A, "member_ids": [A, B]})
    await flushed(a)
    assert [f["type"] for f in sink.frames] == ["ready"]


async def test_ready_waits_for_the_live_stream() -> None:
    world = World()
    core = Core(world)
    core.router.on_down()
    a, sink = await core.connect(A)
    await flushed(a)
    assert sink.frames == []
    core.router.on_live()
    await flushed(a)
    assert sink.frames == [{"type": "ready"}]


async def test_the_last_socket_leaving_takes_the_user_offline_and_off_the_routes() -> None:
    world = World()
    world.add_chat("ab", [A, B])
    core = Core(world)
    one, _ = await core.connect(A)
    two, _ = await core.connect(A)
    core.router.detach(one)
    assert core.presence.is_online(A)
    core.router.detach(two)
    assert not core.presence.is_online(A)
    assert core.users.get(A) is None
    world.commit("ab", B)
    core.deliver()  # routed to nobody, and nothing breaks
