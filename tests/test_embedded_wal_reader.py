"""The flush position the reader reports: the consumer's acks, never past what was read,
and everything read once the consumer is idle or stalled."""

from __future__ import annotations

from gateway.embedded.wal.reader import flush_position


def test_the_flush_position_is_what_the_consumer_acknowledged() -> None:
    assert flush_position(acked=100, delivered_end=300, resume=300, stalled=False) == 100


def test_a_consumer_that_acknowledged_everything_lets_the_slot_follow_the_stream() -> None:
    # Idle: the server reported a later position (other activity) than the last delivery.
    assert flush_position(acked=300, delivered_end=300, resume=900, stalled=False) == 900


def test_acks_beyond_what_was_read_are_not_reported() -> None:
    assert flush_position(acked=5000, delivered_end=3000, resume=4000, stalled=False) == 4000


def test_a_stalled_consumer_counts_as_having_handled_what_it_was_given() -> None:
    assert flush_position(acked=100, delivered_end=300, resume=300, stalled=True) == 300
