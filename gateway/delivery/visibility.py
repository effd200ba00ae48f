"""Who may see whom: the blocks between users who share a chat, kept in memory so that
presence and typing are filtered without a Data API call per event.

A block hides two users from each other both ways (README "Blocking"). The database
refuses messages across a block and leaves read markers unpublished; presence and typing
travel only through gateways, so gateways filter them here. The set is loaded as
service_role (`rpc/gateway_blocks`: blocks between people who share a chat, the only ones
a gateway could route anything across) each time the gateway's topics come up — at start
and after every reconnect, so a change missed while they were down is picked up — and kept
current by the `block` events the database publishes on a gateway topic when a block is
made or lifted. The same load writes the gateway's `delivery.presence_visibility` to the
database, which holds direct Realtime subscribers to it.

`BlockFeed` sits between the feed and the router: it takes `block` events, passes every
other event on unchanged, and tells the router the stream is live once blocks are loaded.
All state is touched only on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from gateway.errors import GatewayError

__all__ = ["BlockFeed", "BlockSource", "Downstream", "Visibility"]

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_CAP_SECONDS = 10.0


class Downstream(Protocol):
    """Where the feed's other events go (the router)."""

    def on_event(self, event: str, payload: dict[str, Any]) -> None: ...
    def on_live(self) -> None: ...
    def on_down(self) -> None: ...


class BlockSource(Protocol):
    """What the database answers as service_role (gateway/supabase/store.py's `call`)."""

    async def call(self, token: str, function: str, params: dict[str, Any]) -> Any: ...


class Visibility:
    """The blocks standing between users; listeners hear each pair that becomes hidden
    from each other (False) or visible again (True)."""

    def __init__(self) -> None:
        self._blocks: set[tuple[str, str]] = set()  # (blocker, blocked)
        self._hidden: dict[str, set[str]] = {}  # user → users hidden from them, both ways
        self._listeners: list[Callable[[str, str, bool], None]] = []

    def listen(self, on_change: Callable[[str, str, bool], None]) -> None:
        self._listeners.append(on_change)

    def hidden(self, user: str, other: str) -> bool:
        others = self._hidden.get(user)
        return others is not None and other in others

    def apply(self, blocker: str, blocked: str, on: bool) -> None:
        """One block made (`on`) or lifted."""
        if on:
            self._blocks.add((blocker, blocked))
        else:
            self._blocks.discard((blocker, blocked))
        self._settle(blocker, blocked)

    def replace(self, blocks: set[tuple[str, str]]) -> None:
        """The whole set, as the database has it now."""
        changed = self._blocks ^ blocks
        self._blocks = blocks
        for blocker, blocked in changed:
            self._settle(blocker, blocked)

    def _settle(self, a: str, b: str) -> None:
        hide = (a, b) in self._blocks or (b, a) in self._blocks
        if hide == self.hidden(a, b):
            return
        for user, other in ((a, b), (b, a)):
            if hide:
                self._hidden.setdefault(user, set()).add(other)
            else:
                others = self._hidden[user]
                others.discard(other)
                if not others:
                    del self._hidden[user]
        for listener in self._listeners:
            try:
                listener(a, b, not hide)
            except Exception:
                log.exception("visibility listener failed")


class BlockFeed:
    """The feed's listener: `block` events here, everything else to the router."""

    def __init__(
        self,
        router: Downstream,
        visibility: Visibility,
        source: BlockSource,
        service_key: str,
        presence_visibility: str,
    ) -> None:
        self._router = router
        self._visibility = visibility
        self._source = source
        self._token = service_key
        self._presence_visibility = presence_visibility
        self._loader: asyncio.Task[None] | None = None
        self._changed_while_loading = False
        self._live = False

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        if event != "block":
            self._router.on_event(event, payload)
            return
        blocker, blocked, on = (
            payload.get("user_id"),
            payload.get("peer_id"),
            payload.get("blocked"),
        )
        if isinstance(blocker, str) and isinstance(blocked, str) and isinstance(on, bool):
            self._visibility.apply(blocker, blocked, on)
            self._changed_while_loading = True
        else:
            log.warning("malformed block event")

    def on_live(self) -> None:
        """The topics are up: load the blocks, then tell the router (so `ready`, after
        which presence and typing flow, comes only once blocks filter them)."""
        self._live = True
        if self._loader is None or self._loader.done():
            self._loader = asyncio.get_running_loop().create_task(self._load())

    def on_down(self) -> None:
        self._live = False
        self._router.on_down()

    async def close(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            await asyncio.gather(self._loader, return_exceptions=True)

    async def _load(self) -> None:
        """Write the presence setting and read every block, until both succeed; read again
        if a block event came meanwhile (the answer may predate it). If the topics went
        down and up again meanwhile, this one load serves both."""
        delay = RETRY_FIRST_SECONDS
        while True:
            self._changed_while_loading = False
            try:
                await self._source.call(
                    self._token,
                    "gateway_set_presence_visibility",
                    {"visibility": self._presence_visibility},
                )
                rows = await self._source.call(self._token, "gateway_blocks", {})
            except GatewayError as err:
                log.warning("blocks not loaded code=%s; retrying", err.code)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)
                continue
            if self._changed_while_loading:
                continue
            self._visibility.replace({(str(a), str(b)) for a, b in rows})
            if self._live:
                self._router.on_live()
            return
