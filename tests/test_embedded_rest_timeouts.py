"""The Data API holds against its own users as Supabase does: every request runs with its
role's statement_timeout (anon 3 s, authenticated 8 s, service_role authenticator's 8 s),
a query past it answers PostgREST's 57014 error while other users are served, and a
client that hangs up takes its query with it.

Followed: PostgREST's impersonated role settings (src/library/PostgREST/Config/Database.hs
queryRoleSettings: settings of the roles granted to authenticator, user-settable ones
only; Query/PreQuery.hs txVarQuery: set_config(…, true) before the role), its status
for SQLSTATE 57xxx (Error.hs mapSQLtoHTTP: 500, body {code, details, hint, message}), and
Supabase's documented defaults (docs/guides/database/postgres/timeouts: anon 3s,
authenticated 8s, service_role none, so authenticator's 8s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg

from gateway.config import build_config
from gateway.embedded.keys import KeyRing
from gateway.embedded.runner import embedded_stack
from tests.conftest import EmbeddedStack
from tests.rest_helpers import create_user, raw, run_sql

SHOW_TIMEOUT_SQL = """
create function public.my_statement_timeout() returns text
  language sql stable as $$ select current_setting('statement_timeout') $$;
grant execute on function public.my_statement_timeout() to anon, authenticated, service_role;
"""

# Stands for any query that takes long (a backtracking regex, a huge join): bounded, so
# the old code failed these tests in seconds rather than hanging. The advisory lock is
# held exactly as long as the transaction runs, so a test can wait for its end.
SLOW_SQL = """
create function public.slow_query() returns int language plpgsql as $$
begin
  perform pg_advisory_xact_lock(4242);
  perform pg_sleep(10);
  return 1;
end $$;
grant execute on function public.slow_query() to authenticated;
"""

TIMED_OUT = {
    "code": "57014",
    "details": None,
    "hint": None,
    "message": "canceling statement due to statement timeout",
}


async def test_each_role_runs_with_supabase_default_timeout(embedded: EmbeddedStack) -> None:
    await run_sql(embedded, SHOW_TIMEOUT_SQL)
    user = await create_user(embedded)
    seen = {}
    for role, key, token in (
        ("anon", embedded.anon_key, None),
        ("authenticated", embedded.anon_key, user.token),
        ("service_role", embedded.service_key, None),
    ):
        reply = await raw(
            embedded, "POST", "/rpc/my_statement_timeout", body="{}", key=key, token=token
        )
        assert reply.status == 200, reply.text
        seen[role] = reply.json()
    assert seen == {"anon": "3s", "authenticated": "8s", "service_role": "8s"}
    # Transaction-local: the pooled connections themselves are left without a limit.
    async with embedded.context.pool.acquire() as conn:
        assert await conn.fetchval("select current_setting('statement_timeout')") == "0"


async def test_a_slow_query_stops_at_the_role_timeout_while_others_are_served(
    embedded: EmbeddedStack,
) -> None:
    """The hostile review: one user floods the pool (20 connections) with slow queries;
    each stops at her role's timeout with PostgREST's error, and another user's send
    goes through meanwhile instead of waiting for the queries to finish."""
    # Scoped to this test's database; read when the Data API serves its first request.
    await run_sql(
        embedded,
        "do $$ begin execute format("
        "'alter role authenticated in database %I set statement_timeout = ''300ms''',"
        " current_database()); end $$;" + SLOW_SQL,
    )
    eve, bob, carol = [await create_user(embedded, n) for n in ("eve", "bob", "carol")]

    async def hostile() -> tuple[int, object, float]:
        started = time.monotonic()
        reply = await raw(embedded, "POST", "/rpc/slow_query", body="{}", token=eve.token)
        return reply.status, reply.json(), time.monotonic() - started

    flood = [asyncio.create_task(hostile()) for _ in range(24)]
    send = raw(
        embedded,
        "POST",
        "/rpc/send_direct_message",
        body=f'{{"peer_id": "{carol.id}", "body": "still here"}}',
        token=bob.token,
    )
    sent = await asyncio.wait_for(send, 5)
    assert sent.status == 200, sent.text
    assert sent.json()["message"]["body"] == "still here"
    results = await asyncio.wait_for(asyncio.gather(*flood), 8)
    assert [(status, body) for status, body, _ in results] == [(500, TIMED_OUT)] * len(flood)
    assert max(elapsed for _, _, elapsed in results) < 5


async def _wait_until_running(admin: asyncpg.Connection, marker: str, timeout: float) -> None:
    """pg_stat_activity has no events: look again every 10 ms, server side, until a
    backend runs `marker` or the deadline (the admin session's statement_timeout) passes."""
    await admin.execute(f"set statement_timeout = '{int(timeout * 1000)}ms'")
    await admin.execute(
        "do $$ begin loop perform pg_stat_clear_snapshot();"
        " exit when exists (select from pg_stat_activity where pid <> pg_backend_pid()"
        f" and state = 'active' and query like '%{marker}%');"
        " perform pg_sleep(0.01); end loop; end $$"
    )


async def test_a_client_that_hangs_up_frees_its_backend(database_url: str, tmp_path: Path) -> None:
    """Through the stack `python -m gateway embedded` runs (its own AppRunner): the
    query is cancelled and its transaction rolled back as soon as the client is gone,
    well before the 8 s timeout. PostgREST itself leaves the query running (issue #3517);
    here a disconnect must not hold a pooled connection."""
    config = build_config(
        {"embedded": {"database_url": database_url, "api_port": 0, "data_dir": str(tmp_path)}}
    )
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(SLOW_SQL)
        async with embedded_stack(config) as status:
            keys = KeyRing(config.embedded, tmp_path)
            token = keys.sign(
                {"sub": str(uuid.uuid4()), "role": "authenticated", "exp": int(time.time()) + 60}
            )
            host, port = status.api_url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                (
                    "POST /rest/v1/rpc/slow_query HTTP/1.1\r\n"
                    f"Host: {host}\r\napikey: {config.embedded.anon_key}\r\n"
                    f"Authorization: Bearer {token}\r\n"
                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                ).encode()
            )
            await writer.drain()
            await _wait_until_running(admin, "slow_query", timeout=5)
            writer.close()
            await writer.wait_closed()
            # Granted only once the hung-up request's transaction has ended.
            await admin.execute("set statement_timeout = '3s'")
            await admin.execute("select pg_advisory_lock(4242)")
            await admin.execute("select pg_advisory_unlock(4242)")
            left = await admin.fetchval(
                "select count(*) from pg_stat_activity where pid <> pg_backend_pid()"
                " and datname = current_database() and state like 'idle in transaction%'"
            )
            assert left == 0
            del reader
    finally:
        await admin.close()
