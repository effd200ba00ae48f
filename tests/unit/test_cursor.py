"""ChatCursor: each seq once, in order; holes reported; acks stand in for own messages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.delivery.cursor import ChatCursor, Outgoing


def item(seq: int) -> Outgoing:
    return Outgoing(seq, f"m{seq}")


def test_in_order_messages_pass_through() -> None:
    cursor = ChatCursor(1)
    assert [o.seq for o in cursor.offer(item(1))] == [1]
    assert [o.seq for o in cursor.offer(item(2))] == [2]
    assert cursor.gap is None


def test_an_early_message_waits_and_the_hole_is_reported() -> None:
    cursor = ChatCursor(1)
    assert cursor.offer(item(3)) == []
    assert cursor.gap == (1, 2)
    assert cursor.offer(item(1)) == [item(1)]
    assert cursor.gap == (2, 2)
    assert [o.seq for o in cursor.offer(item(2))] == [2, 3]
    assert cursor.gap is None


def test_duplicates_and_old_messages_are_dropped() -> None:
    cursor = ChatCursor(5)
    assert cursor.offer(item(4)) == []
    assert cursor.offer(item(5)) == [item(5)]
    assert cursor.offer(item(5)) == []
    assert cursor.offer(item(7)) == []
    assert cursor.offer(item(7)) == []


def test_an_ack_stands_in_for_the_own_message_and_releases_what_waited() -> None:
    cursor = ChatCursor(1)
    assert cursor.offer(item(2)) == []
    assert cursor.acked(1) == [item(2)]
    assert cursor.offer(item(1)) == []  # the live copy of the acked message
    assert cursor.acked(4) == []  # ahead: it waits as a placeholder
    assert [o.seq for o in cursor.offer(item(3))] == [3]  # 4 was the ack: nothing to send


@given(st.permutations(list(range(1, 30))), st.lists(st.integers(1, 29), max_size=20))
def test_any_order_with_repeats_gives_each_seq_once_in_order(
    order: list[int], repeats: list[int]
) -> None:
    cursor = ChatCursor(1)
    sent: list[int] = []
    for seq in order + repeats:
        sent += [o.seq for o in cursor.offer(item(seq))]
    assert sent == list(range(1, 30))
    assert cursor.gap is None
