"""WalStream: committed transactions from PostgreSQL's WAL as an async iterator.

Lifecycle: `start()` drops stale slots, creates a fresh one (changes committed from then
on are streamed) and starts the reader thread; iterate to get Transactions in commit
order; `ack(end_lsn)` each one when handled; `stop()` ends the thread, drops the slot and
ends the iteration. The reader hands transactions over through a bounded queue: when the
consumer falls behind, the reader waits and the WAL sender with it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

import asyncpg

from gateway.embedded.wal import slots
from gateway.embedded.wal.changes import Transaction
from gateway.embedded.wal.reader import ReaderSettings, WalReader

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 30.0
STOP_JOIN_SECONDS = 10.0


class WalStreamError(RuntimeError):
    """The stream could not start, or ended for good (its slot or publication is gone)."""


class _End:
    """Queue marker: the stream was stopped."""


_END: Final = _End()


class _Bridge:
    """The reader thread's Outlet: a bounded handover into this event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Transaction | Exception | _End] = asyncio.Queue()
        self.room = threading.Semaphore(capacity)
        # Settles with None when the first session streams, or with its error.
        self.first_session: asyncio.Future[Exception | None] = loop.create_future()

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to tell

    def offer(self, transaction: Transaction, timeout: float) -> bool:
        if not self.room.acquire(timeout=timeout):
            return False
        self._call(self.queue.put_nowait, transaction)
        return True

    def session_started(self) -> None:
        self._call(self._settle_first, None)

    def session_failed(self, error: Exception) -> None:
        self._call(self._settle_first, error)

    def fatal(self, error: Exception) -> None:
        self._call(self._settle_first, error)
        self._call(self.queue.put_nowait, error)

    def _settle_first(self, error: Exception | None) -> None:
        if not self.first_session.done():
            self.first_session.set_result(error)


class WalStream:
    """Changes from the given publications, streamed through a slot of our own.

    `max_pending`: transactions handed over but not yet taken by the consumer before the
    reader waits. `ack_timeout`: seconds without any ack after which what was delivered
    is confirmed to the server anyway (see reader.flush_position).
    """

    def __init__(
        self,
        database_url: str,
        publications: Sequence[str],
        *,
        slot_prefix: str = "gateway_realtime",
        max_pending: int = 256,
        ack_timeout: float = 5.0,
    ) -> None:
        if not publications:
            raise ValueError("publications must name at least one publication")
        self.database_url = database_url
        self.publications = tuple(publications)
        self.slot_prefix = slots.validate_prefix(slot_prefix)
        self.max_pending = max_pending
        self.ack_timeout = ack_timeout
        self.slot_name: str | None = None
        self._reader: WalReader | None = None
        self._thread: threading.Thread | None = None
        self._bridge: _Bridge | None = None

    @property
    def connected(self) -> bool:
        return self._reader is not None and self._reader.connected

    @property
    def position(self) -> int | None:
        """The WAL position up to which every transaction is acknowledged (None before
        `start()`); the distance to pg_current_wal_lsn() is how far the consumer is behind."""
        return self._reader.position() if self._reader is not None else None

    async def start(self) -> None:
        if self._bridge is not None:
            raise RuntimeError("WalStream.start() called twice")
        bridge = _Bridge(asyncio.get_running_loop(), self.max_pending)
        conn = await asyncpg.connect(self.database_url)
        try:
            missing = await slots.missing_publications(conn, self.publications)
            if missing:
                raise WalStreamError(f"publications do not exist: {', '.join(missing)}")
            await slots.drop_stale_slots(conn, self.slot_prefix)
            slot_name = slots.new_slot_name(self.slot_prefix)
            # Claimed before it exists, so a concurrent start never takes it for stale.
            await slots.claim(conn, slot_name)
            start_lsn = await slots.create_slot(conn, slot_name)
            self._bridge, self.slot_name = bridge, slot_name
            self._start_reader(bridge, slot_name, start_lsn)
            try:
                error = await asyncio.wait_for(
                    asyncio.shield(bridge.first_session), START_TIMEOUT_SECONDS
                )
            except TimeoutError as timeout:
                error = timeout
            if error is not None:
                await self._halt_reader()
                await slots.drop_slot(conn, slot_name)
                self._bridge = self._reader = self._thread = None
                raise WalStreamError(f"replication did not start: {error}") from error
        finally:
            await conn.close()

    def _start_reader(self, bridge: _Bridge, slot_name: str, start_lsn: int) -> None:
        settings = ReaderSettings(
            self.database_url, slot_name, self.publications, ack_timeout_seconds=self.ack_timeout
        )
        self._reader = WalReader(settings, start_lsn, bridge)
        self._thread = threading.Thread(
            target=self._reader.run, name=f"wal-{slot_name}", daemon=True
        )
        self._thread.start()

    async def _halt_reader(self) -> None:
        if self._reader is None or self._thread is None:
            return
        self._reader.stop()
        await asyncio.to_thread(self._thread.join, STOP_JOIN_SECONDS)
        if self._thread.is_alive():
            log.warning("WAL reader thread %s did not stop in time", self._thread.name)

    async def stop(self) -> None:
        """Stop streaming and drop the slot; iteration then ends. Safe to call twice."""
        if self._bridge is None or self._thread is None:
            return
        await self._halt_reader()
        self._thread = None
        if self.slot_name is not None:
            try:
                conn = await asyncpg.connect(self.database_url)
                try:
                    await slots.drop_slot(conn, self.slot_name)
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError) as error:
                # The next start with this prefix drops it as stale.
                log.warning("could not drop slot %s: %s", self.slot_name, error)
        self._bridge.queue.put_nowait(_END)

    def ack(self, lsn: int) -> None:
        """Everything up to `lsn` (a Transaction's end_lsn) is handled: reported to the
        server as the flush position, which lets it recycle WAL and lets a PostgreSQL
        shutdown proceed (it waits for that, or for `ack_timeout` without any ack)."""
        if self._reader is not None:
            self._reader.ack(lsn)

    def __aiter__(self) -> AsyncIterator[Transaction]:
        if self._bridge is None:
            raise RuntimeError("WalStream.start() must be awaited before iterating")
        return _Transactions(self._bridge)


class _Transactions:
    """The consumer's side of the bridge. A plain __anext__ coroutine rather than an
    async generator, so a wait_for that times out on it leaves the iteration usable."""

    def __init__(self, bridge: _Bridge) -> None:
        self._bridge = bridge

    def __aiter__(self) -> _Transactions:
        return self

    async def __anext__(self) -> Transaction:
        bridge = self._bridge
        item = await bridge.queue.get()
        if isinstance(item, _End):
            bridge.queue.put_nowait(item)  # end every other iteration too
            raise StopAsyncIteration
        if isinstance(item, Exception):
            bridge.queue.put_nowait(item)
            raise WalStreamError(f"WAL stream ended: {item}") from item
        bridge.room.release()
        return item
