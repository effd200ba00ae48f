"""A cached JWKS: the project's public signing keys, refetched on an unknown `kid`.

Supabase caches its JWKS for 10 minutes; so do we. An unknown kid triggers at most one
refetch per `min_refresh_seconds` (a flood of forged kids cannot hammer Supabase), and
concurrent lookups share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)


class JwksCache:
    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        ttl_seconds: float = 600.0,
        min_refresh_seconds: float = 30.0,
    ) -> None:
        self.url = url
        self._session = session
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key with this kid (or the only key when kid is None), fetching if needed."""
        now = time.monotonic()
        stale = now - self._fetched_at > self._ttl
        if stale or (self._lookup(kid) is None and now - self._fetched_at > self._min_refresh):
            await self._refresh(now)
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, asked_at: float) -> None:
        async with self._lock:
            if self._fetched_at >= asked_at:
                return  # another caller refreshed while we waited
            try:
                async with self._session.get(
                    self.url, timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    resp.raise_for_status()
                    document: dict[str, Any] = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                log.warning("could not fetch JWKS from %s: %s", self.url, err)
                self._fetched_at = time.monotonic()  # back off; keep the old keys
                return
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                try:
                    key = jwt.PyJWK.from_dict(entry)
                except jwt.PyJWTError:
                    continue
                keys[str(entry.get("kid", ""))] = key
            self._keys = keys
            self._fetched_at = time.monotonic()
