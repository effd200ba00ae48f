"""GoTrue's per-IP request limits (internal/api/apilimiter): one token bucket per client
address and route group, as tollbooth keeps them.

Each group lets `burst` requests (GoTrue fixes it at 30) through at once, then refills at
`per_window / window` requests per second; a bucket is dropped `ttl` after it was made and
the next request starts a full one. Groups, as GoTrue wires them:

- `signups`: POST /signup with an email or phone, and `user`: PUT /user — GOTRUE_RATE_LIMIT_OTP,
  the CLI's `[auth.rate_limit] sign_in_sign_ups` (30 per 5 min);
- `token`: every POST /token grant (password sign-ins and refreshes alike) —
  GOTRUE_RATE_LIMIT_TOKEN_REFRESH, the CLI's `token_refresh` (150 per 5 min).

Over the limit: 429 `over_request_rate_limit` "Request rate limit reached". The key is the
peer address: nothing in front of the embedded stack sets a forwarded-for header to trust.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from gateway.config import EmbeddedConfig
from gateway.embedded.auth.errors import OVER_REQUEST_RATE_LIMIT, AuthError

__all__ = ["AuthRateLimits", "Limiters", "limiters_key", "rate_limits_key"]

Group = Literal["signups", "token", "user"]
Clock = Callable[[], float]

FIVE_MINUTES = 300.0
GOTRUE_BURST = 30  # apilimiter.go: SetBurst(30) on every per-5-minute limiter
BUCKET_TTL = 3600.0  # ExpirableOptions.DefaultExpirationTTL: time.Hour
_SWEEP_EVERY = 1024  # new buckets between two sweeps of expired ones


@dataclass(frozen=True, slots=True)
class AuthRateLimits:
    """The limits; defaults are the Supabase CLI's `[auth.rate_limit]` template."""

    sign_in_sign_ups: int = 30
    """Sign-ups and user updates per window per address (GOTRUE_RATE_LIMIT_OTP)."""
    token_refresh: int = 150
    """Requests to /token per window per address (GOTRUE_RATE_LIMIT_TOKEN_REFRESH)."""
    burst: int = GOTRUE_BURST
    window_seconds: float = FIVE_MINUTES
    bucket_ttl_seconds: float = BUCKET_TTL

    @classmethod
    def from_config(cls, config: EmbeddedConfig) -> AuthRateLimits:
        return cls(
            sign_in_sign_ups=config.auth_rate_limit_sign_in_sign_ups,
            token_refresh=config.auth_rate_limit_token_refresh,
        )


@dataclass(slots=True)
class _Bucket:
    created: float
    tokens: float
    at: float


class KeyedBucket:
    """golang.org/x/time/rate's Limiter per key, created full on first use."""

    def __init__(self, rate: float, burst: int, ttl: float, clock: Clock) -> None:
        self._rate = rate
        self._burst = burst
        self._ttl = ttl
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._created_since_sweep = 0

    def allow(self, key: str) -> bool:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None or now - bucket.created >= self._ttl:
            bucket = self._buckets[key] = _Bucket(now, float(self._burst), now)
            self._sweep(now)
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        # Expired buckets would start full anyway: forgetting them only bounds the memory.
        self._created_since_sweep += 1
        if self._created_since_sweep < _SWEEP_EVERY:
            return
        self._created_since_sweep = 0
        expired = [k for k, b in self._buckets.items() if now - b.created >= self._ttl]
        for key in expired:
            del self._buckets[key]


class Limiters:
    """The Auth API's limiters; `configure` (at start-up) replaces them with fresh ones."""

    def __init__(self, limits: AuthRateLimits, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.limits = limits
        self._groups: dict[Group, KeyedBucket] = {}
        self.configure(limits)

    def configure(self, limits: AuthRateLimits) -> None:
        self.limits = limits

        def bucket(per_window: int) -> KeyedBucket:
            rate = per_window / limits.window_seconds
            return KeyedBucket(rate, limits.burst, limits.bucket_ttl_seconds, self._clock)

        self._groups = {
            "signups": bucket(limits.sign_in_sign_ups),
            "user": bucket(limits.sign_in_sign_ups),
            "token": bucket(limits.token_refresh),
        }

    def check(self, request: web.Request, group: Group) -> None:
        """Raise GoTrue's 429 when this address has no request left in `group`."""
        if not self._groups[group].allow(request.remote or ""):
            raise AuthError(429, OVER_REQUEST_RATE_LIMIT, "Request rate limit reached")


limiters_key = web.AppKey("auth_limiters", Limiters)
rate_limits_key = web.AppKey("auth_rate_limits", AuthRateLimits)
"""Set on the embedded app before it starts to replace the configured limits (tests)."""
