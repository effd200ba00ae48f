"""A channel as an upstream socket holds it: what to join (spec), the wish and its state
(entry), callbacks made safe for realtime-py, and pushes that wait for the server's reply."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec

from realtime import AsyncRealtimeChannel, RealtimeAcknowledgementStatus, RealtimeChannelOptions

log = logging.getLogger(__name__)

P = ParamSpec("P")


def guarded(fn: Callable[P, None], what: str) -> Callable[P, None]:
    """Wrap a callback that realtime-py runs inside its listen task, where an exception
    would silently end all message processing of that socket: log it instead."""

    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("callback failed: %s", what)

    return call


async def push_acked(
    channel: AsyncRealtimeChannel, event: str, payload: dict[str, Any], within: float
) -> bool:
    """Push and wait for the server's reply: True on "ok"; False on an error reply, no
    reply within `within` seconds, or a socket that failed under us."""
    reply: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def settle(ok: bool) -> Callable[..., None]:
        def callback(*_args: Any) -> None:
            if not reply.done():
                reply.set_result(ok)

        return guarded(callback, f"reply to {event}")

    try:
        async with asyncio.timeout(within):
            # realtime-py's own push timeout is in whole seconds; ours is the one that counts.
            push = await channel.push(event, payload, math.ceil(within))
            push.receive(RealtimeAcknowledgementStatus.Ok, settle(True))
            push.receive(RealtimeAcknowledgementStatus.Error, settle(False))
            push.receive(RealtimeAcknowledgementStatus.Timeout, settle(False))
            return await reply
    except TimeoutError:
        return False
    except Exception as exc:  # e.g. the connection closed mid-send: the supervisor sees it too
        log.info("push %s on %s failed: %s", event, channel.topic, type(exc).__name__)
        return False


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel a socket should hold. `params` builds fresh join params (realtime-py edits
    them in place); `configure` registers the owner's guarded callbacks on each new channel
    object before it joins; `on_subscribed(again)` runs (inside realtime-py's listener: keep
    it cheap) on every SUBSCRIBED, with `again` true after the first; `on_lost` when a
    subscribed channel's socket died (it is joined again on the next one)."""

    topic: str
    params: Callable[[], RealtimeChannelOptions]
    configure: Callable[[AsyncRealtimeChannel], None] | None = None
    on_subscribed: Callable[[bool], None] | None = None
    on_lost: Callable[[], None] | None = None


@dataclass(eq=False, slots=True)
class ChannelEntry:
    """One wanted channel, and whether it is joined on a live socket right now. (Plain flags
    and lazily made futures rather than asyncio.Events: there is one entry per online user.)"""

    spec: ChannelSpec
    subscribed: bool = False
    removed: bool = False
    ever_subscribed: bool = False
    refusals: int = 0
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def set_subscribed(self, subscribed: bool) -> None:
        self.subscribed = subscribed
        self._wake()

    def set_removed(self) -> None:
        self.removed = True
        self._wake()

    async def settled(self) -> None:
        """Returns once the channel is subscribed, or no longer wanted."""
        if self.subscribed or self.removed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        if self.subscribed or self.removed:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
