"""`python -m gateway doctor` against the real embedded stack: all green on a healthy
project, and each fault, introduced for real, is named with its fix (and the exit code
is 1).

Followed: supabase/auth's admin routes (`/admin/users` only for service_role; create with
`email_confirm`, delete by id) and `/token?grant_type=password`; supabase/realtime's
private channels (join authorized by SELECT policies on realtime.messages,
`Authorization.get_read_authorizations`) and its REST broadcast API (`private: true`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest

from gateway.cli.doctor import diagnose
from gateway.cli.doctor_report import Check
from gateway.config import Config, EmbeddedConfig
from gateway.migrate import discover
from ops.bench.processes import free_port
from tests.gateway_helpers import gateway_config
from tests.process_helpers import outcome
from tests.realtime_helpers import RealtimeStack, realtime_stack, run_sql

ALL = [
    "reachability",
    "anon key",
    "service key",
    "JWT verification",
    "Realtime private topic",
    "schema",
    "publication",
    "row-level security",
    "clock",
]


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    async with realtime_stack(database_url, tmp_path) as s:
        yield s


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [c.name for c in checks] == ALL
    return {c.name: c for c in checks}


def failing(checks: list[Check]) -> list[str]:
    return [c.name for c in checks if not c.ok]


async def doctor(stack: RealtimeStack, **sections: dict[str, Any]) -> list[Check]:
    return await diagnose(gateway_config(stack, **sections), stack.database_url)


async def test_a_healthy_project_passes_every_check(stack: RealtimeStack) -> None:
    checks = await doctor(stack)
    assert failing(checks) == [], checks
    # The test user it made is gone again.
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("select count(*) from auth.users") == 0
    finally:
        await conn.close()


async def test_an_unreachable_project_fails_everything_that_needs_it(
    stack: RealtimeStack,
) -> None:
    checks = by_name(await doctor(stack, supabase={"url": f"http://127.0.0.1:{free_port()}"}))
    assert not checks["reachability"].ok
    assert "does not answer" in checks["reachability"].detail
    assert "SUPABASE_URL" in checks["reachability"].fix
    assert not checks["anon key"].ok and not checks["Realtime private topic"].ok


async def test_a_key_the_project_does_not_know_is_refused(stack: RealtimeStack) -> None:
    forged = jwt.encode({"role": "anon", "iss": "supabase"}, "another-secret-" * 4)
    checks = by_name(await doctor(stack, supabase={"anon_key": forged}))
    assert failing(list(checks.values())) == [
        "anon key",
        "JWT verification",
        "Realtime private topic",
    ]
    assert "the project refused it (401" in checks["anon key"].detail
    assert "SUPABASE_KEY" in checks["anon key"].fix


async def test_keys_in_each_others_places_are_named(stack: RealtimeStack) -> None:
    swapped = {"anon_key": stack.service_key, "service_key": stack.anon_key}
    checks = by_name(await doctor(stack, supabase=swapped))
    assert "a service_role key where the anon key belongs" in checks["anon key"].detail
    assert "an anon key where the service_role key belongs" in checks["service key"].detail


async def test_new_api_keys_are_understood(stack: RealtimeStack) -> None:
    keys = {"anon_key": stack.config.publishable_key, "service_key": stack.config.secret_key}
    checks = by_name(await doctor(stack, supabase=keys))
    assert failing(list(checks.values())) == []
    assert checks["anon key"].detail.startswith("a publishable key")


async def test_a_wrong_jwt_secret_fails_verification(stack: RealtimeStack) -> None:
    checks = by_name(await doctor(stack, auth={"jwt_secret": "not-the-project-secret-" * 2}))
    assert failing(list(checks.values())) == ["JWT verification"]
    assert "HS256" in checks["JWT verification"].detail
    assert "JWT_SECRET" in checks["JWT verification"].fix


async def test_a_missing_migration_is_listed(stack: RealtimeStack) -> None:
    last = discover()[-1]
    await run_sql(
        stack, f"delete from gateway_migrations.schema_migrations where version = '{last.version}'"
    )
    checks = by_name(await doctor(stack))
    assert failing(list(checks.values())) == ["schema"]
    assert last.path.name in checks["schema"].detail
    assert "python -m gateway migrate" in checks["schema"].fix


async def test_rls_off_on_a_table_is_named(stack: RealtimeStack) -> None:
    await run_sql(stack, "alter table public.chat_members disable row level security")
    checks = by_name(await doctor(stack))
    assert failing(list(checks.values())) == ["row-level security"]
    assert "public.chat_members" in checks["row-level security"].detail
    fix = "alter table public.chat_members enable row level security"
    assert checks["row-level security"].fix == fix


async def test_a_publication_without_messages_is_named(stack: RealtimeStack) -> None:
    await run_sql(stack, "alter publication supabase_realtime drop table public.messages")
    checks = by_name(await doctor(stack))
    assert failing(list(checks.values())) == ["publication"]
    fix = "alter publication supabase_realtime add table public.messages"
    assert checks["publication"].fix.startswith(fix)


async def test_a_refused_private_topic_is_named(stack: RealtimeStack) -> None:
    await run_sql(stack, 'drop policy "users can receive their own topic" on realtime.messages')
    checks = by_name(await doctor(stack))
    assert failing(list(checks.values())) == ["Realtime private topic"]
    assert "was refused" in checks["Realtime private topic"].detail
    assert "realtime.messages" in checks["Realtime private topic"].fix


async def test_clock_skew_is_measured_against_the_projects_date(stack: RealtimeStack) -> None:
    """The local clock is the one thing a test cannot move for real: it is passed in."""
    config = gateway_config(stack)
    checks = by_name(await diagnose(config, stack.database_url, clock=lambda: time.time() + 90))
    assert failing(list(checks.values())) == ["clock"]
    # Date has whole seconds: 90 s of skew reads as 90 or 91.
    assert re.search(r"is 9[01] s ahead of the project", checks["clock"].detail)


async def test_without_a_database_url_the_database_checks_fail(stack: RealtimeStack) -> None:
    checks = by_name(await diagnose(gateway_config(stack), None))
    assert failing(list(checks.values())) == ["schema", "publication", "row-level security"]
    assert "--database-url" in checks["schema"].fix


async def run_doctor(config: Config, database_url: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "SUPABASE_URL": config.supabase.url,
        "SUPABASE_KEY": config.supabase.anon_key,
        "SUPABASE_SERVICE_KEY": config.supabase.service_key,
        "JWT_SECRET": config.auth.jwt_secret,
    }
    code, out, _ = await outcome("doctor", "--database-url", database_url, env=env)
    return code, out


async def test_the_command_exits_0_only_when_all_pass(stack: RealtimeStack) -> None:
    config = gateway_config(stack)
    code, out = await run_doctor(config, stack.database_url)
    assert (code, out.splitlines()[-1]) == (0, f"{len(ALL)} of {len(ALL)} checks passed")
    # Key values are never printed.
    assert stack.anon_key not in out and stack.service_key not in out
    await run_sql(stack, "alter table public.messages disable row level security")
    code, out = await run_doctor(config, stack.database_url)
    assert code == 1
    assert "FAIL  row-level security" in out
    assert "fix: alter table public.messages enable row level security" in out


async def test_asymmetric_tokens_verify_through_the_projects_jwks(
    database_url: str, tmp_path: Path
) -> None:
    """A project on ES256 signing keys: the doctor's token verifies with the JWKS the
    gateway fetches (no secret involved); with ES256 not allowed, it says so."""
    es256 = EmbeddedConfig(signing="ES256")
    async with realtime_stack(database_url, tmp_path, config=es256) as s:
        checks = by_name(await doctor(s, auth={"jwt_secret": ""}))
        assert failing(list(checks.values())) == []
        detail = checks["JWT verification"].detail
        assert detail == "an ES256 token of the project verifies with the project's JWKS"
        checks = by_name(await doctor(s, auth={"jwt_secret": "", "algorithms": ["HS256"]}))
        assert failing(list(checks.values())) == ["JWT verification"]
        assert "list ES256 in auth.algorithms" in checks["JWT verification"].fix


async def test_on_the_embedded_default_it_checks_the_embedded_stack(
    stack: RealtimeStack,
) -> None:
    """No SUPABASE_URL: the doctor checks the embedded stack the configuration describes
    (here on the test stack's port, with the demo keys it runs with)."""
    port = stack.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "JWT_"))}
    env["GATEWAY_EMBEDDED_API_PORT"] = port
    code, out, _ = await outcome("doctor", "--database-url", stack.database_url, env=env)
    assert (code, out.splitlines()[-1]) == (0, f"{len(ALL)} of {len(ALL)} checks passed")
    assert f"Auth and the Data API answer at http://127.0.0.1:{port}" in out
