"""Supabase Realtime's RateCounter (lib/realtime/rate_counter/rate_counter.ex), one per quota.

Events are summed between ticks (5 s); each tick pushes the sum into a bucket of the last 12
sums and sets `avg` = events per second over that bucket. A limit trips at a tick whose avg
reaches it and clears at one whose avg falls below it, so a burst shorter than a tick is
never refused at once, exactly as on Supabase. A counter idle long enough is forgotten and
starts over (Supabase stops one after 5 idle minutes). Ticks are computed when the counter
is used, so an idle counter costs nothing; everything runs on the event loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateCounter"]

Clock = Callable[[], float]


class RateCounter:
    """Average events per second over the last `buckets` ticks, and whether `limit` tripped."""

    def __init__(
        self,
        limit: float,
        *,
        tick_seconds: float,
        buckets: int,
        idle_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit = limit
        self._tick = tick_seconds
        self._buckets: deque[int] = deque(maxlen=buckets)
        self._idle = idle_seconds
        self._clock = clock
        self._pending = 0
        self._avg = 0.0
        self._triggered = False
        self._start(clock())

    def _start(self, now: float) -> None:
        # Supabase's counter ticks once as it starts (an empty sum), then every tick.
        self._buckets.clear()
        self._pending = 0
        self._last_event = now
        self._next_tick = now
        self._tick_until(now)

    def add(self, count: int = 1) -> None:
        self._advance()
        self._pending += count
        self._last_event = self._clock()

    @property
    def avg(self) -> float:
        self._advance()
        return self._avg

    @property
    def triggered(self) -> bool:
        self._advance()
        return self._triggered

    def _advance(self) -> None:
        now = self._clock()
        if now < self._next_tick:
            return
        if self._pending == 0 and now - self._last_event >= self._idle:
            self._start(now)  # stopped for idleness, started again by this use
            return
        self._tick_until(now)

    def _tick_until(self, now: float) -> None:
        ticks = int((now - self._next_tick) // self._tick) + 1
        self._push(self._pending)
        self._pending = 0
        # Past a full bucket of empty ticks nothing else changes: skip the rest.
        for _ in range(min(ticks - 1, self._buckets.maxlen or 0)):
            self._push(0)
        self._next_tick += ticks * self._tick

    def _push(self, count: int) -> None:
        self._buckets.appendleft(count)
        self._avg = sum(self._buckets) / len(self._buckets) / self._tick
        # Trips at avg >= limit and clears below it: the state follows the last tick's avg.
        self._triggered = self._avg >= self.limit
