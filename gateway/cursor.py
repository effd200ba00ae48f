"""Per-socket, per-chat ordering: deliver each seq once, in order, and notice gaps.

Messages can reach a socket by three paths — live from Realtime, from history during a
resume or a gap fill, and as the ack of the socket's own send — and Realtime may deliver
a peer's message after the ack of a later own message. The cursor makes the union
exact: `message` frames leave in strictly increasing seq without duplicates, and a seq
that is missing while later ones are waiting is a gap to fill from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outgoing:
    """A message ready to send: its seq and its encoded `message` frame."""

    seq: int
    text: str


@dataclass
class ChatCursor:
    expected: int  # the next seq this socket has not seen
    _waiting: dict[int, Outgoing] = field(default_factory=dict)  # arrived early
    _acked: set[int] = field(default_factory=set)  # own messages acked ahead of expected

    def offer(self, item: Outgoing) -> list[Outgoing]:
        """A message arrived; return what can be sent now, in order."""
        seq = item.seq
        if seq < self.expected or seq in self._acked or seq in self._waiting:
            return []  # already delivered, acked or waiting: a duplicate
        if seq > self.expected:
            self._waiting[seq] = item
            return []
        self.expected += 1
        return [item, *self._drain()]

    def acked(self, seq: int) -> list[Outgoing]:
        """The socket's own message `seq` was acked; return what that unblocks."""
        if seq < self.expected:
            return []
        self._waiting.pop(seq, None)  # the ack replaces the message frame
        if seq > self.expected:
            self._acked.add(seq)
            return []
        self.expected += 1
        return self._drain()

    def _drain(self) -> list[Outgoing]:
        ready: list[Outgoing] = []
        while True:
            if self.expected in self._acked:
                self._acked.discard(self.expected)
            elif (item := self._waiting.pop(self.expected, None)) is not None:
                ready.append(item)
            else:
                return ready
            self.expected += 1

    @property
    def gap(self) -> tuple[int, int] | None:
        """The missing seqs [first, last] when later ones are already here, else None."""
        ahead = [*self._waiting, *self._acked]
        if not ahead:
            return None
        return self.expected, min(ahead) - 1
