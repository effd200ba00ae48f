"""Who subscribes to what: each channel's bindings, pending from the join until the database
has validated them, then indexed by published table for dispatch.

A channel is registered synchronously when it joins (right after the join reply is queued),
so every change committed after the client saw its join reply finds the channel here:
active, or pending, in which case the change waits in the channel's queue until the
validation settles.

A table added to the publication later is first seen as a change of a table no subscribed
channel knows: `stale()` names the channels whose bindings (`table: '*'`, a schema-wide or
`like` pattern) cover it, and they are validated again (pending meanwhile, so that change
waits for them too). Supabase re-subscribes every channel once its subscription manager sees
the publication's tables change, within a minute (subscription_manager.ex `:check_oids`).
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field

from gateway.embedded.cdc.pgc_job import ChangeJob
from gateway.embedded.cdc.pgc_params import BindingSpec
from gateway.embedded.cdc.pgc_subscribe import Entity, Subscription
from gateway.embedded.keys import Claims
from gateway.embedded.realtime.channel import Channel


@dataclass(eq=False)
class ChannelEntry:
    """One channel's subscriptions. Hashes by identity."""

    channel: Channel
    bindings: list[tuple[int, BindingSpec]]  # (binding id, parsed binding), in join order
    claims: Claims
    subscriptions: list[Subscription] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    jobs: collections.deque[ChangeJob] = field(default_factory=collections.deque)
    worker: asyncio.Task[None] | None = None  # drains `jobs` (pgc_worker)
    known: set[Entity] = field(default_factory=set)  # tables its validations have considered

    def covers(self, schema: str, table: str) -> bool:
        return any(spec.covers(schema, table) for _, spec in self.bindings)


class Registry:
    def __init__(self) -> None:
        self._entries: dict[Channel, ChannelEntry] = {}
        self._by_entity: dict[Entity, dict[ChannelEntry, list[Subscription]]] = {}
        self._pending: dict[ChannelEntry, None] = {}
        self._checked: set[Entity] = set()  # tables no active channel has left to validate

    def entry(self, channel: Channel) -> ChannelEntry | None:
        return self._entries.get(channel)

    def entries(self) -> list[ChannelEntry]:
        return list(self._entries.values())

    def add(self, entry: ChannelEntry) -> None:
        self._entries[entry.channel] = entry
        self.mark_pending(entry)

    def mark_pending(self, entry: ChannelEntry) -> None:
        """Changes that may concern the channel wait for its (re)validation to settle."""
        self._pending[entry] = None
        entry.settled.clear()

    def remove(self, channel: Channel) -> ChannelEntry | None:
        entry = self._entries.pop(channel, None)
        if entry is not None:
            self._unindex(entry)
            self.settle(entry)
        return entry

    def activate(
        self, entry: ChannelEntry, subscriptions: list[Subscription], claims: Claims
    ) -> None:
        """Swap in validated subscriptions (a re-subscribe replaces the previous set)."""
        if self._entries.get(entry.channel) is not entry:
            return
        self._unindex(entry)
        entry.subscriptions, entry.claims = subscriptions, claims
        entry.known.update(sub.entity for sub in subscriptions)
        self._checked.clear()
        for sub in subscriptions:
            self._by_entity.setdefault(sub.entity, {}).setdefault(entry, []).append(sub)

    def settle(self, entry: ChannelEntry) -> None:
        self._pending.pop(entry, None)
        entry.settled.set()

    def _unindex(self, entry: ChannelEntry) -> None:
        for entity in {sub.entity for sub in entry.subscriptions}:
            subscribers = self._by_entity.get(entity)
            if subscribers is not None:
                subscribers.pop(entry, None)
                if not subscribers:
                    del self._by_entity[entity]

    def stale(self, schema: str, table: str) -> list[ChannelEntry]:
        """Subscribed channels whose bindings cover this published table but whose last
        validation did not consider it (it joined the publication since): each is reported
        once per table. O(1) once a table has been checked, until a channel (re)subscribes."""
        entity = (schema, table)
        if entity in self._checked:
            return []
        found = [
            entry
            for entry in self._entries.values()
            if entry.subscriptions
            and entry not in self._pending
            and entity not in entry.known
            and entry.covers(schema, table)
        ]
        for entry in found:
            entry.known.add(entity)
        self._checked.add(entity)
        return found

    def wants(self, schema: str, table: str) -> bool:
        """Could a change of this table go to anyone (now or once validations settle)?"""
        if (schema, table) in self._by_entity:
            return True
        return any(entry.covers(schema, table) for entry in self._pending)

    def candidates(self, schema: str, table: str, action: str) -> list[ChannelEntry]:
        """Channels subscribed to this table and action, in join order, then the channels
        still being validated that could be."""
        active = {
            entry: None
            for entry, subs in self._by_entity.get((schema, table), {}).items()
            if any(sub.action in ("*", action) for sub in subs)
        }
        pending = [
            entry
            for entry in self._pending
            if entry.covers(schema, table) and entry not in active  # re-validating: once
        ]
        return [*active, *pending]
