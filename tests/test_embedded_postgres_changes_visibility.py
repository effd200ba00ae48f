"""Postgres Changes for a transaction the WAL streamed before it was visible.

PostgreSQL hands a commit to logical replication as soon as its WAL record is flushed, and
takes the transaction out of the ProcArray (makes it visible to new snapshots) only after.
The RLS check of its rows (Supabase's `walrus_rls_stmt` in `realtime.apply_rls`, migration
20211116214523, run by `realtime.list_changes` after `pg_logical_slot_get_changes` read the
slot) must judge them in a snapshot that sees them: else an insert is lost for a subscriber
who may read it, and an update is judged on the row's previous version.

These tests hold that window open: a synchronous standby that never connects. A commit is
then flushed, so streamed, but waits for the standby before it becomes visible; the standby
stops being required when the test releases it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import pytest

from tests.postgres_changes_helpers import TODOS, Event, execute, realtime, subscriber
from tests.realtime_helpers import (
    DEADLINE,
    RealtimeStack,
    create_user,
    next_item,
    nothing_arrives,
)

NOTES = """
create table public.notes (id bigint primary key, owner uuid not null, body text not null);
alter table public.notes replica identity full;
alter table public.notes enable row level security;
grant select on public.notes to authenticated;
create policy "owners read their notes" on public.notes for select to authenticated
  using (owner = (select auth.uid()));
alter publication supabase_realtime add table public.notes;
"""

ABSENT_STANDBY = "pgc_absent_standby"


@pytest.fixture
async def stack(stack: RealtimeStack) -> RealtimeStack:
    """The shared stack, with `notes` (owners read their own) and `todos` (no RLS)."""
    await execute(stack, TODOS + NOTES)
    return stack


@dataclass
class HeldCommits:
    """Connections whose commits are streamed but kept invisible until `release()`."""

    admin: asyncpg.Connection
    writer: asyncpg.Connection
    probe: asyncpg.Connection
    commits: list[asyncio.Task[str]] = field(default_factory=list)

    async def commit(self) -> None:
        """Commit the writer's open transaction; returns once PostgreSQL has flushed (so
        streamed) its commit and waits for the standby, i.e. before it is visible."""
        assert await self._commit_held(self.writer), "the commit was not held"

    async def release(self) -> None:
        """The standby is no longer required: every held commit completes and is visible."""
        await self.admin.execute("alter system reset synchronous_standby_names")
        await self.admin.execute("select pg_reload_conf()")
        await asyncio.wait_for(asyncio.gather(*self.commits), DEADLINE)

    async def hold_probe(self) -> None:
        while True:
            await self.probe.execute("begin; insert into sync_probe values (1)")
            if await self._commit_held(self.probe):
                return

    async def _commit_held(self, conn: asyncpg.Connection) -> bool:
        """Start `conn`'s commit; True once it waits for the standby, False if it completed."""
        self.commits.append(asyncio.create_task(conn.execute("commit")))
        pid = conn.get_server_pid()
        # pg_stat_activity has no events: look again every 10 ms, server side, until the
        # commit waits or is done (or the admin session's statement_timeout passes).
        await self.admin.execute(
            "do $$ begin loop perform pg_stat_clear_snapshot();"
            f" exit when exists (select from pg_stat_activity where pid = {pid}"
            " and (wait_event = 'SyncRep' or state = 'idle'));"
            " perform pg_sleep(0.01); end loop; end $$"
        )
        waits = "select wait_event = 'SyncRep' from pg_stat_activity where pid = $1"
        return bool(await self.admin.fetchval(waits, pid))


@asynccontextmanager
async def held_commits(stack: RealtimeStack) -> AsyncIterator[HeldCommits]:
    """Require the absent standby (for the whole cluster: other commits that wrote WAL wait too
    until the release; these tests make none) and wait until the server does."""
    admin = await asyncpg.connect(stack.database_url)
    writer = await asyncpg.connect(stack.database_url)
    probe = await asyncpg.connect(stack.database_url)
    held = HeldCommits(admin, writer, probe)
    try:
        await admin.execute(f"set statement_timeout = '{int(DEADLINE * 1000)}ms'")
        await admin.execute("create table sync_probe (n int)")
        await admin.execute(f"alter system set synchronous_standby_names = '{ABSENT_STANDBY}'")
        await admin.execute("select pg_reload_conf()")
        # The checkpointer applies the standby setting a moment after the reload: commit on
        # the probe until one is held (it completes on release, with the others). Only a
        # transaction that wrote WAL waits: the probe writes to sync_probe, which nobody publishes.
        await asyncio.wait_for(held.hold_probe(), DEADLINE)
        yield held
    finally:
        await admin.execute("reset statement_timeout")
        await admin.execute("alter system reset synchronous_standby_names")
        await admin.execute("select pg_reload_conf()")
        await asyncio.wait_for(asyncio.gather(*held.commits, return_exceptions=True), DEADLINE)
        for conn in (probe, writer, admin):
            await conn.close()


async def test_an_insert_streamed_before_it_is_visible_still_reaches_its_reader(
    stack: RealtimeStack,
) -> None:
    owner, token = await create_user(stack)
    async with realtime(stack, token) as rt, realtime(stack) as anon:
        notes = await subscriber(rt, "notes", {"event": Event.Insert, "table": "notes"})
        todos = await subscriber(anon, "todos", {"event": Event.Insert, "table": "todos"})
        async with held_commits(stack) as held:
            await held.writer.execute("begin")
            await held.writer.execute("insert into notes values (1, $1, 'mine')", owner)
            await held.writer.execute("insert into todos (title) values ('streamed')")
            await held.commit()
            # todos has no RLS: its change is delivered as it streams, so the note streamed too.
            assert (await next_item(todos.events))["data"]["record"]["title"] == "streamed"
            assert await nothing_arrives(notes.events)  # not judged before it is visible

            await held.release()
            record = (await next_item(notes.events))["data"]["record"]
            assert record == {"id": 1, "owner": owner, "body": "mine"}
            assert await nothing_arrives(notes.events)


async def test_an_update_streamed_before_it_is_visible_is_judged_on_the_new_row(
    stack: RealtimeStack,
) -> None:
    """The row's previous version is still visible in the window: judged on it, a note
    given to another owner would reach its former owner, and not its new one."""
    (a, a_token), (b, b_token) = [await create_user(stack) for _ in range(2)]
    await execute(stack, "insert into notes values (1, $1, 'for a')", a)
    async with realtime(stack, a_token) as rt_a, realtime(stack, b_token) as rt_b:
        async with realtime(stack) as anon:
            former = await subscriber(rt_a, "notes", {"event": Event.Update, "table": "notes"})
            new = await subscriber(rt_b, "notes", {"event": Event.Update, "table": "notes"})
            todos = await subscriber(anon, "todos", {"event": Event.Insert, "table": "todos"})
            async with held_commits(stack) as held:
                await held.writer.execute("begin")
                await held.writer.execute(
                    "update notes set owner = $1, body = 'for b' where id = 1", b
                )
                await held.writer.execute("insert into todos (title) values ('streamed')")
                await held.commit()
                assert (await next_item(todos.events))["data"]["record"]["title"] == "streamed"
                assert await nothing_arrives(former.events)

                await held.release()
                record = (await next_item(new.events))["data"]["record"]
                assert record == {"id": 1, "owner": b, "body": "for b"}
                assert await nothing_arrives(former.events)
