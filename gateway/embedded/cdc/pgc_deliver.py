"""apply_rls for one channel over a batch of its changes: which of its subscriptions each
change reaches, then one event per distinct `select` list with the ids of those bindings.

The order of checks is ours, not Supabase's (Supabase evaluates every filter in SQL first and
RLS after). Per change: the 400/401 error rows; the native filter checks (pgc_filters: bounded
work in Python, nothing learned until RLS agrees); RLS; and only then the filters that need
SQL, for rows the subscriber may see. So a subscriber's regex never runs on a row it cannot
read: its run time can tell it nothing about other people's rows. The verdicts are the same
as Supabase's: an event needs both. Deletes skip RLS (the row is gone), as on Supabase, so
their filters run on the old row; whether the event arrives already tells the subscriber the
verdict there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.embedded.cdc import pgc_sql_checks
from gateway.embedded.cdc.pgc_filters import FilterRun, SqlCheck
from gateway.embedded.cdc.pgc_job import ChangeJob, Select
from gateway.embedded.cdc.pgc_registry import ChannelEntry
from gateway.embedded.cdc.pgc_rls import RlsSession, TableInfo
from gateway.embedded.cdc.pgc_subscribe import Subscription

# Channels whose RLS checks may run at once (each holds one pooled connection meanwhile).
RLS_SLOTS = 8


@dataclass(frozen=True)
class Checks:
    """What every channel's checks share: the pool, the slots and the filter budget."""

    pool: asyncpg.Pool
    filter_budget_ms: int
    rls_slots: asyncio.Semaphore
    filter_slots: asyncio.Semaphore

    @classmethod
    def create(cls, pool: asyncpg.Pool, filter_budget_ms: int) -> Checks:
        rls = asyncio.Semaphore(RLS_SLOTS)
        return cls(pool, filter_budget_ms, rls, asyncio.Semaphore(pgc_sql_checks.FILTER_SLOTS))


@dataclass
class _Plan:
    """One change for one channel, between the checks."""

    job: ChangeJob
    table: TableInfo
    subs: list[Subscription]  # the channel's subscriptions to this table and action
    error: dict[str, Any] | None
    new: FilterRun
    old: FilterRun | None  # deletes are matched on the old row too
    visible: bool = True  # may the subscriber see the row (and is any subscription a candidate)

    def candidates(self) -> list[Subscription]:
        """Subscriptions whose native checks pass (or are still open in SQL)."""
        old = self.old
        return [
            s
            for s in self.subs
            if self.new.may_pass(s.filters) or (old is not None and old.may_pass(s.filters))
        ]

    def matched(self) -> list[Subscription]:
        old = self.old
        return [
            s
            for s in self.subs
            if self.new.passes(s.filters) or (old is not None and old.passes(s.filters))
        ]


def fan_out(data: dict[str, Any], entry: ChannelEntry, subs: list[Subscription]) -> None:
    """Push one event to the channel with the ids of the bindings it matched."""
    channel = entry.channel
    if channel.legacy_api:  # topic-as-subscription clients get the change type as event
        channel.push_fastlane(data["type"], data)
        return
    # Supabase walks the channel's bindings in order, prepending each match.
    ids = [sub.binding_id for sub in sorted(subs, key=lambda s: s.position, reverse=True)]
    channel.push_fastlane("postgres_changes", {"ids": ids, "data": data})


def _by_select(subs: list[Subscription]) -> list[tuple[Select, list[Subscription]]]:
    # order by coalesce(array_to_string(selected_columns, ','), '')
    groups: dict[Select, list[Subscription]] = {}
    for sub in subs:
        groups.setdefault(sub.select, []).append(sub)
    return sorted(groups.items(), key=lambda item: ",".join(item[0]) if item[0] else "")


async def deliver(checks: Checks, entry: ChannelEntry, jobs: list[ChangeJob]) -> None:
    """Check and push a batch of changes to one channel, in order; raises FilterTimeout."""
    claims, subscriptions = entry.claims, entry.subscriptions
    role = claims.role
    plans: list[_Plan] = []
    for job in jobs:
        change = job.change
        entity = (change.schema, change.table)
        subs = [s for s in subscriptions if s.entity == entity and s.action in ("*", change.kind)]
        table = await job.table(role, checks.pool) if subs else None
        if table is None:
            continue
        old = FilterRun(change.old) if change.kind == "DELETE" else None
        plans.append(_Plan(job, table, subs, job.error(table, role), FilterRun(change.new), old))

    async with RlsSession(checks.pool, claims, checks.rls_slots) as rls:
        for plan in plans:
            change = plan.job.change
            if plan.error is not None or not plan.candidates():
                plan.visible = False
            elif plan.table.rls and change.kind != "DELETE":
                # deletes are never RLS-checked (the row is gone), as on Supabase
                job = plan.job
                plan.visible = await rls.visible(change, job.xid, plan.table, job.values.keys)

    wanted: dict[SqlCheck, None] = {}
    for plan in plans:
        if plan.visible:
            for sub in plan.candidates():
                for run in (plan.new, plan.old):
                    if run is not None:
                        run.wanted(sub.filters, wanted)
    if wanted:
        budget = checks.filter_budget_ms
        results = await pgc_sql_checks.check(checks.pool, checks.filter_slots, budget, [*wanted])
        for plan in plans:
            plan.new.learn(results)
            if plan.old is not None:
                plan.old.learn(results)

    for plan in plans:
        if plan.error is not None:
            for _, group in _by_select(plan.subs):
                fan_out(plan.error, entry, group)
        elif plan.visible:
            for select, group in _by_select(plan.matched()):
                fan_out(plan.job.event(plan.table, role, select), entry, group)
