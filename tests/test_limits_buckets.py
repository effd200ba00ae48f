"""The token buckets behind the per-user limits (gateway/api/limits.py), on a clock the
test moves by hand."""

from __future__ import annotations

import pytest

from gateway.api.limits import Buckets, Rate, RateLimited, UserRates
from gateway.config import LimitsConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_token_per_interval() -> None:
    clock = Clock()
    buckets = Buckets(Rate(2.0, 3), clock)
    assert [buckets.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("u") == pytest.approx(0.5)  # the next token in 1/rate
    clock.now += 0.25
    assert buckets.take("u") == pytest.approx(0.25)  # a refused try costs nothing
    clock.now += 0.25
    assert buckets.take("u") == 0.0
    assert buckets.take("u") > 0


def test_tokens_never_pile_up_beyond_the_burst() -> None:
    clock = Clock()
    buckets = Buckets(Rate(10.0, 5), clock)
    buckets.take("u")
    clock.now += 3600
    assert [buckets.take("u") for _ in range(5)] == [0.0] * 5
    assert buckets.take("u") > 0


def test_keys_have_their_own_buckets() -> None:
    buckets = Buckets(Rate(1.0, 1), Clock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_a_rate_of_zero_is_no_limit() -> None:
    buckets = Buckets(Rate(0.0, 1), Clock())
    assert all(buckets.take("u") == 0.0 for _ in range(1000))
    assert len(buckets) == 0


def test_idle_keys_are_forgotten_so_the_table_stays_small() -> None:
    clock = Clock()
    buckets = Buckets(Rate(1.0, 2), clock)
    for n in range(5000):
        buckets.take(f"user-{n}")
        clock.now += 0.01  # each bucket is full again 1 s after its key acted
    assert len(buckets) < 2100


def test_user_rates_refuse_with_retry_after_per_kind() -> None:
    clock = Clock()
    limits = LimitsConfig(send_rate=1.0, send_burst=1, read_rate=4.0, read_burst=1)
    rates = UserRates(limits, clock)
    rates.check("send", "u")
    with pytest.raises(RateLimited) as refused:
        rates.check("send", "u")
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after == pytest.approx(1.0)
    assert refused.value.retry_after_header == "1"
    rates.check("read", "u")  # another kind, another bucket
    with pytest.raises(RateLimited) as again:
        rates.check("read", "u")
    assert again.value.retry_after_header == "1"  # 0.25 s rounds up to whole seconds
