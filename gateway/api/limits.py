"""Rate limits: token buckets per key (a user, an address), refused with `rate_limited`.

A bucket holds up to `burst` tokens and regains `rate` per second; each action takes one.
A refusal says how long until the next token (REST sends it as Retry-After). Buckets are
kept per key only while they are below full: a full bucket is the same as none, so idle
keys are swept away and the table stays as large as the set of recently busy keys.

Everything runs on the event loop: no locks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from gateway.config import LimitsConfig
from gateway.errors import ErrorCode, GatewayError

__all__ = [
    "Buckets",
    "Kind",
    "Rate",
    "RateLimited",
    "SocketBudget",
    "TokenBucket",
    "UserRates",
    "user_rates_key",
]

Clock = Callable[[], float]
Kind = Literal["send", "typing", "read", "resume"]
_WHAT: dict[Kind, str] = {
    "send": "messages",
    "typing": "typing frames",
    "read": "read markers",
    "resume": "resume frames",
}


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float  # 0: unlimited
    burst: int


class RateLimited(GatewayError):
    """`rate_limited`, with the seconds until a retry can succeed (REST: Retry-After)."""

    def __init__(self, retry_after: float, what: str) -> None:
        self.retry_after = retry_after
        super().__init__(ErrorCode.RATE_LIMITED, f"too many {what}; retry in {retry_after:.1f} s")

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))  # whole seconds (RFC 9110)


class TokenBucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp

    def take(self, rate: Rate, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        self.tokens = min(rate.burst, self.tokens + (now - self.stamp) * rate.per_second)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate.per_second

    def full(self, rate: Rate, now: float) -> bool:
        return self.tokens + (now - self.stamp) * rate.per_second >= rate.burst


class Buckets:
    """One rate, a bucket per key."""

    def __init__(self, rate: Rate, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_at = 1024  # sweep full buckets when the table grows past this

    def take(self, key: str) -> float:
        """0.0 if `key` may act now, else the seconds until it may."""
        if self.rate.per_second <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(float(self.rate.burst), now)
        return bucket.take(self.rate, now)

    def _sweep(self, now: float) -> None:
        self._buckets = {key: b for key, b in self._buckets.items() if not b.full(self.rate, now)}
        self._sweep_at = max(1024, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)


class UserRates:
    """The per-user limits of one gateway, shared by every socket of a user and REST."""

    def __init__(self, limits: LimitsConfig, clock: Clock = time.monotonic) -> None:
        rates: dict[Kind, Rate] = {
            "send": Rate(limits.send_rate, limits.send_burst),
            "typing": Rate(limits.typing_rate, limits.typing_burst),
            "read": Rate(limits.read_rate, limits.read_burst),
            "resume": Rate(limits.resume_rate, limits.resume_burst),
        }
        self._buckets = {kind: Buckets(rate, clock) for kind, rate in rates.items()}

    def check(self, kind: Kind, user_id: str) -> None:
        """Raise RateLimited if `user_id` may not do `kind` now (it counts if allowed)."""
        wait = self._buckets[kind].take(user_id)
        if wait:
            raise RateLimited(wait, _WHAT[kind])


class SocketBudget:
    """What one socket may cost in frames that do no work: pings (WebSocket pings and
    `{"type":"ping"}` frames) and frames refused as bad input. Each costs a parse and an
    answer, none touches a user's limits, so a client could otherwise send them without
    end; over its budget the socket is closed with rate_limit_flood (4029). Buckets are
    made on first use: an idle socket holds only this object."""

    __slots__ = ("_clock", "_invalid", "_limits", "_ping")

    def __init__(self, limits: LimitsConfig, clock: Clock = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._ping: TokenBucket | None = None
        self._invalid: TokenBucket | None = None

    def flood(self, kind: Literal["ping", "invalid"]) -> GatewayError | None:
        """Count one; past the budget, the rate_limit_flood error that closes the socket."""
        limits = self._limits
        if kind == "ping":
            rate = Rate(limits.ws_ping_rate, limits.ws_ping_burst)
        else:
            rate = Rate(limits.ws_invalid_rate, limits.ws_invalid_burst)
        if rate.per_second <= 0:
            return None
        now = self._clock()
        bucket = self._ping if kind == "ping" else self._invalid
        if bucket is None:
            bucket = TokenBucket(float(rate.burst), now)
            if kind == "ping":
                self._ping = bucket
            else:
                self._invalid = bucket
        if not bucket.take(rate, now):
            return None
        what = "pings" if kind == "ping" else "invalid frames"
        return GatewayError(ErrorCode.RATE_LIMIT_FLOOD, f"too many {what} on this socket")


user_rates_key = web.AppKey("user_rates_key", UserRates)
