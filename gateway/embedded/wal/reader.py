"""The replication thread: streams pgoutput from our slot over a psycopg2 logical
replication connection, assembles Transactions and hands them to an Outlet.

Concurrency: `run` is the thread's body and the only user of the connections; `stop` and
`ack` are called from other threads and only set flags. A lost connection is retried with
backoff and resumed at `resume_lsn` (the end of the last transaction handed over, or a later
idle position the server reported), so a transaction is neither missed nor repeated.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg2
import psycopg2.extras

from gateway.embedded.wal.assembler import TransactionAssembler
from gateway.embedded.wal.catalog import CONNECT_PARAMS, PgCatalog
from gateway.embedded.wal.changes import Transaction, format_lsn
from gateway.embedded.wal.pgoutput import decode_message

log = logging.getLogger(__name__)

# Errors after which streaming cannot resume without losing changes: the slot or a
# publication is gone (undefined_object), or the slot was invalidated.
FATAL_SQLSTATES = frozenset({"42704", "55000"})

# Fixed output formats, so values.py can rely on them whatever the server's defaults.
REPLICATION_PARAMS: dict[str, Any] = {
    **CONNECT_PARAMS,
    "client_encoding": "UTF8",
    "options": "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=1"
    " -c bytea_output=hex",
}

# psycopg2 sends a status update at least this often while reading; we also do while a
# full queue holds us, well inside the server's wal_sender_timeout (60 s by default).
STATUS_SECONDS = 10.0


class Outlet(Protocol):
    """Where the reader delivers; every method is called from the reader thread."""

    def offer(self, transaction: Transaction, timeout: float) -> bool:
        """Hand over a transaction, waiting up to `timeout` for room; False if none."""
        ...

    def session_started(self) -> None: ...

    def session_failed(self, error: Exception) -> None: ...

    def fatal(self, error: Exception) -> None:
        """Streaming has ended for good; the reader thread is about to return."""
        ...


@dataclass(frozen=True)
class ReaderSettings:
    dsn: str
    slot_name: str
    publications: tuple[str, ...]
    poll_seconds: float = 0.2  # longest pause between checks of stop, acks and feedback
    feedback_seconds: float = 0.2  # at most one flush report per this interval
    first_retry_seconds: float = 0.05
    max_retry_seconds: float = 2.0
    # A consumer that acknowledges nothing for this long is treated as having handled
    # what it was given: see flush_position.
    ack_timeout_seconds: float = 5.0


def flush_position(acked: int, delivered_end: int, resume: int, *, stalled: bool) -> int:
    """The flush LSN to report: what the consumer acknowledged; once it has acknowledged
    everything delivered, how far the stream has read (so an idle slot does not hold WAL
    written by unrelated activity). Never past what was read.

    A `stalled` consumer (no acknowledgement for a while) counts as done too. The flush
    position only decides how much WAL the slot keeps and when a PostgreSQL shutdown may
    proceed (it waits for its walsenders' clients to confirm everything sent); delivery
    never depends on it, because a reconnect resumes after what was handed over.
    """
    if stalled or acked >= delivered_end:
        return resume
    return min(acked, resume)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class WalReader:
    def __init__(
        self,
        settings: ReaderSettings,
        start_lsn: int,
        outlet: Outlet,
    ) -> None:
        self._settings = settings
        self._outlet = outlet
        self._assembler: TransactionAssembler | None = None
        self._catalog: PgCatalog | None = None
        self._resume = start_lsn
        self._delivered_end = start_lsn
        self._acked = start_lsn
        self._stored_flush = 0
        self._sent_flush = 0
        self._last_status = 0.0
        self._ack_seen = start_lsn
        self._ack_progress = time.monotonic()
        self._stall_logged = False
        self._connected = False
        self._streamed = False  # the current session got as far as streaming
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    @property
    def connected(self) -> bool:
        return self._connected

    def ack(self, lsn: int) -> None:
        if lsn > self._acked:
            self._acked = lsn

    def position(self) -> int:
        """Where everything before is handled: the last acknowledged transaction's end, or,
        once all delivered ones are acknowledged, how far the stream has read."""
        return flush_position(self._acked, self._delivered_end, self._resume, stalled=False)

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # already woken, or the thread has finished and closed it

    def run(self) -> None:
        delay = self._settings.first_retry_seconds
        failures = 0
        try:
            while not self._stopping.is_set():
                self._streamed = False
                try:
                    self._session()
                except psycopg2.Error as error:
                    if error.pgcode in FATAL_SQLSTATES:
                        log.error(
                            "WAL stream %s cannot resume: %s",
                            self._settings.slot_name,
                            _first_line(error),
                        )
                        self._outlet.fatal(error)
                        return
                    if self._streamed:
                        delay, failures = self._settings.first_retry_seconds, 0
                    # The first failure of a series is news; the retries that follow are not.
                    failures += 1
                    log.log(
                        logging.WARNING if failures == 1 else logging.DEBUG,
                        "WAL stream %s: connection lost or refused (%s); retrying",
                        self._settings.slot_name,
                        _first_line(error),
                    )
                    self._outlet.session_failed(error)
                if self._stopping.wait(delay):
                    break
                delay = min(delay * 2, self._settings.max_retry_seconds)
        except Exception as error:  # the thread's boundary: report, never die silently
            log.exception("WAL stream %s failed", self._settings.slot_name)
            self._outlet.fatal(error)
        finally:
            if self._catalog is not None:
                self._catalog.close()
            self._wake_r.close()
            self._wake_w.close()

    def _session(self) -> None:
        """Connect and stream until stopped; raises when the connection is lost."""
        catalog = self._open_catalog()
        if self._assembler is None:
            self._assembler = TransactionAssembler(catalog)
        self._assembler.catalog = catalog
        self._assembler.reset()
        conn = psycopg2.connect(
            self._settings.dsn,
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
            application_name=self._settings.slot_name,
            **REPLICATION_PARAMS,
        )
        try:
            cur = conn.cursor()
            cur.start_replication(
                slot_name=self._settings.slot_name,
                start_lsn=self._resume,
                decode=False,
                status_interval=STATUS_SECONDS,
                options={
                    "proto_version": "1",
                    "publication_names": ",".join(
                        _quote_ident(p) for p in self._settings.publications
                    ),
                },
            )
            log.info(
                "WAL stream %s streaming from %s",
                self._settings.slot_name,
                format_lsn(self._resume),
            )
            self._stored_flush = self._sent_flush = 0
            self._connected = self._streamed = True
            self._outlet.session_started()
            self._pump(cur, self._assembler)
        finally:
            self._connected = False
            conn.close()

    def _open_catalog(self) -> PgCatalog:
        """The catalog connection, kept across sessions while it works."""
        if self._catalog is not None and not self._catalog.alive():
            self._catalog.close()
            self._catalog = None
        if self._catalog is None:
            self._catalog = PgCatalog(self._settings.dsn, self._settings.slot_name)
        return self._catalog

    def _pump(self, cur: Any, assembler: TransactionAssembler) -> None:
        while not self._stopping.is_set():
            message = cur.read_message()
            if message is not None:
                self._handle(cur, assembler, message.payload)
                continue
            if not assembler.in_transaction:
                # Between transactions, the server's reported position is safe to resume
                # from: anything committed later has a later commit LSN.
                self._resume = max(self._resume, int(cur.wal_end))
            self._feedback(cur)
            if cur.connection.closed:
                raise psycopg2.OperationalError("replication connection closed")
            readable, _, _ = select.select([cur, self._wake_r], [], [], self._settings.poll_seconds)
            if self._wake_r in readable:
                self._drain_wake()

    def _handle(self, cur: Any, assembler: TransactionAssembler, payload: bytes) -> None:
        transaction = assembler.feed(decode_message(payload))
        if transaction is None:
            return
        if transaction.changes and not self._deliver(cur, transaction):
            return
        self._resume = max(self._resume, transaction.end_lsn)
        self._feedback(cur)

    def _deliver(self, cur: Any, transaction: Transaction) -> bool:
        # Waiting here stops reading, so a slow consumer slows the WAL sender (TCP
        # backpressure) instead of growing memory.
        while not self._outlet.offer(transaction, self._settings.poll_seconds):
            if self._stopping.is_set():
                return False
            self._feedback(cur)
        self._delivered_end = transaction.end_lsn
        return True

    def _consumer_stalled(self, now: float) -> bool:
        acked = self._acked
        if acked != self._ack_seen or acked >= self._delivered_end:
            self._ack_seen, self._ack_progress, self._stall_logged = acked, now, False
            return False
        stalled = now - self._ack_progress > self._settings.ack_timeout_seconds
        if stalled and not self._stall_logged:
            self._stall_logged = True
            log.warning(
                "WAL stream %s: no ack for %.0fs; confirming what was delivered anyway",
                self._settings.slot_name,
                self._settings.ack_timeout_seconds,
            )
        return stalled

    def _feedback(self, cur: Any) -> None:
        now = time.monotonic()
        flush = flush_position(
            self._acked, self._delivered_end, self._resume, stalled=self._consumer_stalled(now)
        )
        if flush > self._stored_flush:
            # Stored by psycopg2 and also used when the server asks for a reply.
            cur.send_feedback(write_lsn=self._resume, flush_lsn=flush, apply_lsn=flush)
            self._stored_flush = flush
        since = now - self._last_status
        if (self._stored_flush > self._sent_flush and since >= self._settings.feedback_seconds) or (
            since >= STATUS_SECONDS
        ):
            cur.send_feedback(force=True)
            self._sent_flush = self._stored_flush
            self._last_status = now

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except BlockingIOError:
            pass


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
