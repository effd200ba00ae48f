"""One supervised Realtime socket: a realtime-py client, its control channel and liveness
probe, and the channels it should hold — all rejoined on a fresh client after any failure.

Concurrency model: one supervisor task per socket runs "generations". A generation is one
realtime-py client (auto_reconnect off: its own retries give up and its rejoins race, see
the Realtime reference §9): connect, join the private control channel, probe, then a
reconciler task makes the joined channels match the wanted ones (`add`/`remove` only edit
that wish and wake it). The generation dies when the client's listen task ends, the client
reports it is disconnected, any joined channel reports CHANNEL_ERROR/CLOSED/TIMED_OUT, or a
probe (a broadcast to the control channel with ack and self) is not acked and echoed in
time. Then the client is closed and a new generation starts after a jittered exponential
backoff (capped at 10 s, never giving up). Every callback given to realtime-py is wrapped,
because one that raises silently stops the client's listen task.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from realtime import (
    AsyncRealtimeChannel,
    AsyncRealtimeClient,
    BroadcastPayload,
    RealtimeChannelOptions,
    RealtimeSubscribeStates,
)

from gateway.supabase.realtime_channel import ChannelEntry, ChannelSpec, guarded, push_acked

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 3.0
STABLE_SECONDS = 30.0  # a generation that lived this long resets the backoff
JOIN_TIMEOUT_SECONDS = 10  # realtime-py's push timeout, whole seconds


def backoff(attempt: int) -> float:
    """Exponential with jitter: attempt 1 waits 0.125 to 0.25 s, doubling up to 5 to 10 s."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class JoinPacer:
    """Limits channel joins to `per_second` (Supabase limits joins per second per project),
    shared by every socket of one gateway so that reconnecting many sockets is no join storm.
    Supabase averages that rate over a minute, so `burst_seconds` worth may go at once."""

    def __init__(self, per_second: float, burst_seconds: float = 5.0) -> None:
        self._interval = 1.0 / per_second
        self._burst = burst_seconds
        self._due = 0.0  # when the joins granted so far would be done at the steady rate

    def free(self) -> bool:
        """Would a join asked for now go out without waiting?"""
        now = asyncio.get_running_loop().time()
        return max(self._due, now) + self._interval - now <= self._burst

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        self._due = max(self._due, now) + self._interval
        delay = self._due - now - self._burst
        if delay > 0:
            await asyncio.sleep(delay)


class SocketDead(Exception):
    """A generation could not be brought up."""


class _JoinWatch:
    """realtime-py's subscribe callback for one join (guarded: it runs inside realtime-py's
    listener). A slotted object, not a closure: there is one per online user."""

    __slots__ = ("channel", "entry", "gen", "sock")

    def __init__(
        self,
        sock: UpstreamSocket,
        gen: _Generation,
        entry: ChannelEntry,
        channel: AsyncRealtimeChannel,
    ) -> None:
        self.sock, self.gen, self.entry, self.channel = sock, gen, entry, channel

    def __call__(self, state: RealtimeSubscribeStates, error: Exception | None) -> None:
        try:
            self.sock._join_state(self.gen, self.entry, self.channel, state, error)
        except Exception:
            log.exception("callback failed: state %s", self.entry.spec.topic)


class _Held(NamedTuple):
    entry: ChannelEntry  # the wish this channel object serves
    channel: AsyncRealtimeChannel


@dataclass(eq=False)
class _Generation:
    name: str  # the socket's control topic, for logs
    client: AsyncRealtimeClient
    dead: asyncio.Event = field(default_factory=asyncio.Event)
    control: AsyncRealtimeChannel | None = None
    channels: dict[str, _Held] = field(default_factory=dict)  # sub-topic → live channel
    joined: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)  # left here: a rejoin waits for a round trip
    echoes: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def die(self, reason: str) -> None:
        if not self.dead.is_set():
            log.warning("upstream socket %s dead: %s", self.name, reason)
            self.dead.set()

    def channel(self, topic: str) -> AsyncRealtimeChannel | None:
        held = self.channels.get(topic)
        return held.channel if held else None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("upstream socket %s: task failed", self.name, exc_info=error)
            self.die(f"task failed: {type(error).__name__}")


def _control_params() -> RealtimeChannelOptions:
    return {
        "config": {
            "broadcast": {"ack": True, "self": True},
            "presence": {"key": "", "enabled": False},
            "private": True,
        }
    }


class UpstreamSocket:
    """One supervised socket; `add`/`remove` state what it should hold."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        control_topic: str,
        pacer: JoinPacer,
        probe_interval_seconds: float,
        probe_timeout_seconds: float,
    ) -> None:
        self.control_topic = control_topic
        self._url = url
        self._key = key
        self._pacer = pacer
        self._probe_interval = probe_interval_seconds
        self._probe_timeout = probe_timeout_seconds
        self._entries: dict[str, ChannelEntry] = {}
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gen: _Generation | None = None
        self._nonces = itertools.count(1)
        self.healthy = False  # connected, control joined, last probe acked and echoed

    # Wanted state ------------------------------------------------------------------------

    def add(self, spec: ChannelSpec) -> ChannelEntry:
        entry = self._entries.get(spec.topic)
        if entry is None:
            entry = self._entries[spec.topic] = ChannelEntry(spec)
            self._changed.set()
        return entry

    def remove(self, topic: str) -> None:
        entry = self._entries.pop(topic, None)
        if entry is not None:
            entry.set_removed()
            self._changed.set()

    def __len__(self) -> int:
        return len(self._entries)

    def subscribed_count(self) -> int:
        return sum(1 for entry in self._entries.values() if entry.subscribed)

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def first_attempt(self) -> None:
        """Returns after the first connection attempt succeeded or failed."""
        await self._attempted.wait()

    async def close(self) -> None:
        """Close the client (Realtime then drops its channels and presence metas) and stop."""
        self._stopping.set()
        task, gen = self._task, self._gen
        if task is None:
            return
        if self.healthy and gen is not None:  # end the generation the normal way
            gen.dead.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self._probe_timeout + 1.0)
        task.cancel()  # still connecting or joining: no need to wait for that
        await asyncio.gather(task, return_exceptions=True)
        for entry in self._entries.values():
            entry.set_removed()  # wakes subscribe() callers

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._stopping.is_set():
            gen = self._gen = _Generation(self.control_topic, self._new_client())
            started = loop.time()
            try:
                await self._run(gen)
            except Exception as exc:  # the supervisor's boundary: log, back off, retry
                log.warning(
                    "upstream socket %s: %s: %s", self.control_topic, type(exc).__name__, exc
                )
            finally:
                await self._end(gen)
                self._attempted.set()
            if loop.time() - started >= STABLE_SECONDS:
                attempt = 0  # it was up for a while: start the backoff over
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff(attempt))

    def _new_client(self) -> AsyncRealtimeClient:
        return AsyncRealtimeClient(
            self._url, self._key, auto_reconnect=False, max_retries=1, timeout=JOIN_TIMEOUT_SECONDS
        )

    async def _run(self, gen: _Generation) -> None:
        client = gen.client
        await client.connect()
        listener = client._listen_task  # ends (quietly) when the socket closes or a callback raised
        if listener is None:
            raise SocketDead("no listen task")
        listener.add_done_callback(lambda _task: gen.die("listen task ended"))
        control = client.channel(self.control_topic, _control_params())
        control.on_broadcast("probe", guarded(lambda p: self._echoed(gen, p), "probe echo"))

        def on_control(state: RealtimeSubscribeStates, _error: Exception | None) -> None:
            if state != RealtimeSubscribeStates.SUBSCRIBED:
                gen.die(f"control channel {state.value}")

        await control.subscribe(guarded(on_control, "control state"))
        if not control.is_joined:
            raise SocketDead("control channel not joined")
        gen.control = control
        if not await self._probe(gen):
            raise SocketDead("first probe failed")
        self.healthy = True
        self._attempted.set()
        gen.spawn(self._reconcile(gen))
        while not gen.dead.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gen.dead.wait(), self._probe_interval)
                break
            if not client.is_connected:
                gen.die("client disconnected")
            elif not await self._probe(gen):
                gen.die(f"no probe ack within {self._probe_timeout}s")

    async def _end(self, gen: _Generation) -> None:
        self.healthy = False
        gen.dead.set()
        tasks = list(gen.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for entry in self._entries.values():
            was = entry.subscribed
            entry.set_subscribed(False)
            if was and entry.spec.on_lost is not None:
                guarded(entry.spec.on_lost, f"lost {entry.spec.topic}")()
        client = gen.client
        for channel in list(client.channels.values()):
            channel.rejoin_timer.reset()  # realtime-py's own rejoins must not outlive the client
            channel.join_push.destroy()
        connection = client._ws_connection
        try:
            await asyncio.wait_for(client.close(), CLOSE_TIMEOUT_SECONDS)
            connection = None
        except Exception as exc:
            log.info("upstream socket %s: close: %s", self.control_topic, type(exc).__name__)
        finally:
            if connection is not None:  # a dead peer may never answer the close handshake
                connection.transport.abort()

    # Channels ----------------------------------------------------------------------------

    async def _reconcile(self, gen: _Generation) -> None:
        while not gen.dead.is_set():
            self._changed.clear()
            # Leave what is unwanted, or wanted again by a newer wish (its own subscription).
            wanted = self._entries
            stale = [t for t, held in gen.channels.items() if wanted.get(t) is not held.entry]
            for topic in stale:
                channel = gen.channels.pop(topic).channel
                gen.joined.discard(topic)
                gen.left.add(topic)
                await gen.client.remove_channel(channel)
            missing = [e for t, e in self._entries.items() if t not in gen.channels]
            # A leave's phx_close would otherwise hit a rejoin of the same topic (realtime-py
            # routes by topic, ignoring refs): wait until the server answered something later.
            if any(entry.spec.topic in gen.left for entry in missing):
                if not await self._probe(gen):
                    gen.die("probe after leave failed")
                    return
                gen.left.clear()
            for entry in missing:
                await self._pacer.wait()
                if gen.dead.is_set() or not gen.client.is_connected:
                    return  # realtime-py would open a connection of its own
                topic = entry.spec.topic
                if self._entries.get(topic) is entry and topic not in gen.channels:
                    self._join(gen, entry)
            await self._changed.wait()

    def _join(self, gen: _Generation, entry: ChannelEntry) -> None:
        topic = entry.spec.topic
        channel = gen.client.channel(topic, entry.spec.params())
        gen.channels[topic] = _Held(entry, channel)
        if entry.spec.configure is not None:
            guarded(entry.spec.configure, f"configure {topic}")(channel)
        gen.spawn(channel.subscribe(_JoinWatch(self, gen, entry, channel)))

    def _join_state(
        self,
        gen: _Generation,
        entry: ChannelEntry,
        channel: AsyncRealtimeChannel,
        state: RealtimeSubscribeStates,
        error: Exception | None,
    ) -> None:
        topic = entry.spec.topic
        if gen.dead.is_set() or gen.channel(topic) is not channel:
            return  # a channel object we already let go of
        if state == RealtimeSubscribeStates.SUBSCRIBED:
            gen.joined.add(topic)
            entry.refusals = 0
            again, entry.ever_subscribed = entry.ever_subscribed, True
            entry.set_subscribed(True)
            if entry.spec.on_subscribed is not None:
                entry.spec.on_subscribed(again)
        elif state == RealtimeSubscribeStates.CHANNEL_ERROR and topic not in gen.joined:
            gen.spawn(self._refused(gen, entry, channel, error))
        else:
            gen.die(f"channel {topic} {state.value}")

    async def _refused(
        self,
        gen: _Generation,
        entry: ChannelEntry,
        channel: AsyncRealtimeChannel,
        error: Exception | None,
    ) -> None:
        """The server refused the join; the socket is fine, so retry only this channel."""
        entry.refusals += 1
        delay = backoff(entry.refusals)
        log.warning("join of %s refused (%s); retry in %.1fs", entry.spec.topic, error, delay)
        await gen.client.remove_channel(channel)  # also stops realtime-py's own rejoin timer
        await asyncio.sleep(delay)
        if gen.channel(entry.spec.topic) is channel:
            del gen.channels[entry.spec.topic]
            self._changed.set()

    # Liveness ----------------------------------------------------------------------------

    def _echoed(self, gen: _Generation, payload: BroadcastPayload) -> None:
        waiter = gen.echoes.get(str(payload["payload"].get("nonce")))
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _probe(self, gen: _Generation) -> bool:
        """Round trip on the control channel: the ack proves the server reads and answers us,
        the echo that broadcasts reach us."""
        if gen.control is None:
            return False
        nonce = str(next(self._nonces))
        echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gen.echoes[nonce] = echoed
        payload = {"type": "broadcast", "event": "probe", "payload": {"nonce": nonce}}
        try:
            async with asyncio.timeout(self._probe_timeout):
                if not await push_acked(gen.control, "broadcast", payload, self._probe_timeout):
                    return False
                await echoed
        except TimeoutError:
            return False
        finally:
            gen.echoes.pop(nonce, None)
            echoed.cancel()
        self.healthy = True
        return True
