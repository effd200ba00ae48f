"""One gateway-wide timer closes sockets whose token expired: in expiry order, skipping
sockets that left or refreshed their token, with the heap of stale entries kept bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from gateway.auth.expiry import ExpiryWatch


@dataclass
class Socket:
    id: int
    expires_at: float


async def test_due_items_expire_in_order_and_others_are_skipped() -> None:
    expired: list[int] = []
    done = asyncio.Event()

    def on_expired(item: Socket) -> None:
        expired.append(item.id)
        if item.id == 4:
            done.set()

    watch: ExpiryWatch[Socket] = ExpiryWatch(on_expired)
    now = time.time()
    left, refreshed = Socket(2, now + 0.05), Socket(3, now + 0.05)
    for item in (Socket(4, now + 0.3), Socket(1, now + 0.1), left, refreshed):
        watch.watch(item)
    watch.unwatch(left)  # the socket closed
    refreshed.expires_at = now + 3600  # a fresh token arrived
    watch.watch(refreshed)
    await asyncio.wait_for(done.wait(), 5)
    assert expired == [1, 4]
    watch.close()


async def test_stale_entries_do_not_pile_up() -> None:
    watch: ExpiryWatch[Socket] = ExpiryWatch(lambda item: None)
    later = time.time() + 3600
    for n in range(10_000):  # sockets that come and go, each leaving an entry behind
        item = Socket(n, later)
        watch.watch(item)
        watch.unwatch(item)
    keep = Socket(-1, later)
    watch.watch(keep)
    assert len(watch) <= 130
    watch.close()
