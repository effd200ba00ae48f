"""pgc_visibility.visible: whether a snapshot sees a committed transaction known only by
pgoutput's 32-bit xid, across xid wraparound (PostgreSQL's XidInMVCCSnapshot rules:
visible when older than xmin, or older than xmax and not running)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.embedded.cdc.pgc_visibility import full_xid, visible

SPAN = 1 << 32
EPOCH_1 = SPAN  # the first xid of epoch 1


def test_a_transaction_older_than_xmin_is_visible() -> None:
    assert visible(700, (753, 760, ()))


def test_a_transaction_below_xmax_and_not_running_is_visible() -> None:
    assert visible(755, (753, 760, (753, 757)))


def test_a_transaction_still_running_in_the_snapshot_is_not_visible() -> None:
    assert not visible(757, (753, 760, (753, 757)))


def test_a_transaction_at_or_past_xmax_is_not_visible() -> None:
    # Committed but not yet out of the ProcArray: latestCompletedXid has not reached it.
    assert not visible(755, (755, 755, ()))
    assert not visible(758, (755, 755, ()))


def test_the_32_bit_xid_is_widened_across_wraparound() -> None:
    assert full_xid(SPAN - 3, (EPOCH_1 + 2, EPOCH_1 + 5, ())) == SPAN - 3
    assert visible(SPAN - 3, (EPOCH_1 + 2, EPOCH_1 + 5, ()))
    assert full_xid(2, (SPAN - 5, SPAN - 4, ())) == EPOCH_1 + 2
    assert not visible(2, (SPAN - 5, SPAN - 4, ()))


@given(
    xmax=st.integers(min_value=1 << 31, max_value=(1 << 40)),
    offset=st.integers(min_value=-(1 << 31) + 1, max_value=(1 << 31) - 1),
)
def test_any_xid_within_2_to_the_31_of_xmax_is_widened_to_itself(xmax: int, offset: int) -> None:
    xid = xmax + offset
    assert full_xid(xid % SPAN, (xmax, xmax, ())) == xid
    assert visible(xid % SPAN, (xmax, xmax, ())) == (offset < 0)
