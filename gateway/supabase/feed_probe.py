"""Is the change feed moving? A probe through the database, timed.

Every `interval` seconds the gateway asks the database to publish a nonce on one of its
topics (`rpc/gateway_probe`: `realtime.send` in a transaction, exactly as a message is
published) and times until the feed hands it back. The feed is healthy while the last
probe came back within `max_lag` and none is outstanding for longer: a stalled
replication (Realtime's or the embedded stack's) makes `/readyz` say so, where a probe of
the socket alone would not.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from gateway.errors import GatewayError

__all__ = ["FeedProbe", "ProbeSender"]

log = logging.getLogger(__name__)


class ProbeSender(Protocol):
    async def probe(self, topic: str, nonce: str) -> None: ...


class FeedProbe:
    def __init__(
        self,
        sender: ProbeSender,
        topic: Callable[[], str | None],
        *,
        interval: float,
        max_lag: float,
        gateway_id: str,
    ) -> None:
        self._sender = sender
        self._topic = topic
        self._interval = interval
        self.max_lag = max_lag
        self._prefix = f"{gateway_id}:"
        self._nonces = itertools.count(1)
        self._outstanding: dict[str, float] = {}  # nonce → when it was sent
        self.last_lag: float | None = None  # seconds, of the last probe that came back
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def lag(self) -> float | None:
        """How far behind the feed is: the oldest outstanding probe's age if that is more
        than the last round trip, else the last round trip (None: nothing measured)."""
        now = asyncio.get_running_loop().time()
        waiting = max((now - sent for sent in self._outstanding.values()), default=0.0)
        if self.last_lag is None:
            return waiting or None
        return max(self.last_lag, waiting)

    @property
    def healthy(self) -> bool:
        lag = self.lag()
        return lag is not None and lag <= self.max_lag

    def echoed(self, payload: dict[str, Any]) -> None:
        """A `probe` event from the feed (any gateway's: only our own nonces count)."""
        sent = self._outstanding.pop(str(payload.get("nonce")), None)
        if sent is not None:
            self.last_lag = asyncio.get_running_loop().time() - sent
            # Older probes are answered by this one: the feed is ordered per topic.
            self._outstanding = {n: t for n, t in self._outstanding.items() if t > sent}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            topic = self._topic()
            if topic is not None:
                nonce = f"{self._prefix}{next(self._nonces)}"
                self._outstanding[nonce] = loop.time()  # its echo may beat the answer
                try:
                    await self._sender.probe(topic, nonce)
                except GatewayError as err:
                    del self._outstanding[nonce]
                    log.warning("feed probe not published code=%s", err.code)
            # Not live yet: look again soon, so readiness follows the feed coming up.
            await asyncio.sleep(self._interval if topic is not None else min(self._interval, 0.2))
