"""The open-loop send schedule: when each message is due and who sends it, fixed before
the run starts, so a slow server never slows the offered load down (no coordinated
omission); latency is measured from the scheduled time, not from when we got round to it.

Senders take turns in a seeded random order, so every user sends at rate/users; the gaps
between sends are constant or exponential (Poisson arrivals).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Send:
    at: float  # seconds after the run's start
    sender: int  # user index


def build(
    rate: float, seconds: float, senders: list[int], *, arrivals: str, seed: int
) -> list[Send]:
    """Every send due in [0, seconds) at `rate` per second in total."""
    if rate <= 0 or seconds <= 0 or not senders:
        return []
    rng = random.Random(seed)
    order = list(senders)
    rng.shuffle(order)
    sends: list[Send] = []
    t = 0.0
    i = 0
    while True:
        if arrivals == "poisson":
            t += rng.expovariate(rate)
            at = t
        else:
            at = i / rate
        if at >= seconds:
            return sends
        sends.append(Send(at, order[i % len(order)]))
        i += 1


def split(sends: list[Send], owner: dict[int, int], workers: int) -> list[list[Send]]:
    """Each worker's share (owner maps a user index to its worker), order kept."""
    shares: list[list[Send]] = [[] for _ in range(workers)]
    for send in sends:
        shares[owner[send.sender]].append(send)
    return shares
