"""Closing sockets whose token expired, with one timer for the whole gateway.

A timer per socket costs ~0.7 KB (uvloop TimerHandle); here a socket costs one heap entry.
Entries are not removed when a socket closes or refreshes its token: they are skipped when
due, and the heap is rebuilt when most of it is stale.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Expiring(Protocol):
    id: int

    @property
    def expires_at(self) -> float: ...


T = TypeVar("T", bound=Expiring)


class ExpiryWatch(Generic[T]):
    def __init__(self, on_expired: Callable[[T], None]) -> None:
        self._on_expired = on_expired
        self._watched: dict[int, T] = {}
        self._heap: list[tuple[float, int]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def watch(self, item: T) -> None:
        """(Re)arm for `item.expires_at`; call again after the token was refreshed."""
        self._watched[item.id] = item
        heapq.heappush(self._heap, (item.expires_at, item.id))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._watched):
            self._heap = [(i.expires_at, key) for key, i in self._watched.items()]
            heapq.heapify(self._heap)
        self._arm()

    def __len__(self) -> int:
        """Heap entries held, stale ones included (bounded by twice the watched items)."""
        return len(self._heap)

    def unwatch(self, item: T) -> None:
        self._watched.pop(item.id, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, float("inf")

    def _arm(self) -> None:
        if not self._heap or self._heap[0][0] >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._heap[0][0]
        delay = max(0.0, self._timer_at - time.time())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = time.time()
        while self._heap and self._heap[0][0] <= now:
            _, key = heapq.heappop(self._heap)
            item = self._watched.get(key)
            if item is not None and item.expires_at <= now:
                del self._watched[key]
                self._on_expired(item)
        self._arm()
