"""Per-socket, per-chat ordering: deliver each seq once, in order, and notice gaps.

Messages can reach a socket by three paths — live from Realtime, from history during a
resume or a gap fill, and as the ack of the socket's own send — and Realtime may deliver
a peer's message after the ack of a later own message. The cursor makes the union
exact: `message` frames leave in strictly increasing seq without duplicates, and a seq
that is missing while later ones are waiting is a gap to fill from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to send: its seq and its encoded `message` frame."""

    seq: int
    text: str


@dataclass(slots=True)
class ChatCursor:
    """One per socket and chat. What arrived ahead of `expected` waits in one dict: the
    frame to send, or None for an own message already acked (its ack was the frame)."""

    expected: int  # the next seq this socket has not seen
    _ahead: dict[int, Outgoing | None] = field(default_factory=dict)

    def offer(self, item: Outgoing) -> list[Outgoing]:
        """A message arrived; return what can be sent now, in order."""
        seq = item.seq
        if seq < self.expected or seq in self._ahead:
            return []  # already delivered, acked or waiting: a duplicate
        if seq > self.expected:
            self._ahead[seq] = item
            return []
        self.expected += 1
        return [item, *self._drain()]

    def acked(self, seq: int) -> list[Outgoing]:
        """The socket's own message `seq` was acked; return what that unblocks."""
        if seq < self.expected:
            return []
        if seq > self.expected:
            self._ahead[seq] = None  # the ack replaces the message frame
            return []
        self._ahead.pop(seq, None)
        self.expected += 1
        return self._drain()

    def _drain(self) -> list[Outgoing]:
        ready: list[Outgoing] = []
        while self.expected in self._ahead:
            item = self._ahead.pop(self.expected)
            if item is not None:
                ready.append(item)
            self.expected += 1
        return ready

    @property
    def gap(self) -> tuple[int, int] | None:
        """The missing seqs [first, last] when later ones are already here, else None."""
        if not self._ahead:
            return None
        return self.expected, min(self._ahead) - 1
