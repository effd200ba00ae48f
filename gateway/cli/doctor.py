"""`python -m gateway doctor`: check a configured project end to end and say what is
wrong and how to fix it. Exit code 0 only when every check passes.

Checks, in order: reachability; the anon and service keys (form and the project's
verdict); JWT verification of a token the project issues, with the gateway's own verifier
as configured; the schema against sql/, the supabase_realtime publication and row-level
security (with --database-url); a private-topic round trip through Realtime; clock skew.
A throwaway user serves the token checks and is deleted afterwards. On the embedded
default the doctor checks the embedded stack the configuration describes (it must be
running: `python -m gateway embedded`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp

from gateway.cli.doctor_api import ApiProbe, jwt_check, key_checks, reachability
from gateway.cli.doctor_db import database_checks
from gateway.cli.doctor_realtime import private_topic_check
from gateway.cli.doctor_report import Check, failed, render
from gateway.cli.launcher import Project, target_config
from gateway.cli.token_cmd import project_of
from gateway.config import Config

__all__ = ["diagnose", "doctor_command", "project_config"]

HTTP_TIMEOUT_SECONDS = 15.0
_NEEDS_KEYS = ("JWT verification", "Realtime private topic")
_DB_CHECKS = ("schema", "publication", "row-level security")


def project_config(config: Config) -> Config:
    """The configuration as the gateway would run it: on the embedded default, pointed at
    the embedded stack it describes."""
    if not config.uses_embedded:
        return config
    url, anon = project_of(config)
    emb = config.embedded
    return target_config(config, Project(url, anon, emb.service_key, emb.jwt_secret))


async def diagnose(
    config: Config, database_url: str | None, clock: Callable[[], float] = time.time
) -> list[Check]:
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        probe = ApiProbe(project_config(config), session)
        reach, clock_check = await reachability(probe, clock)
        checks = [reach]
        if reach.ok:
            checks += await key_checks(probe)
        else:
            checks += [failed(n, "not checked", reach.fix) for n in ("anon key", "service key")]
        checks += await _token_checks(probe, checks)
        checks += await _db_checks(database_url)
        checks.append(clock_check)
        return checks


async def _token_checks(probe: ApiProbe, so_far: list[Check]) -> list[Check]:
    if not all(c.ok for c in so_far):
        fix = "fix the checks above first"
        return [
            failed(n, "not checked: needs a reachable project and both keys", fix)
            for n in _NEEDS_KEYS
        ]
    try:
        user = await probe.create_user()
    except (RuntimeError, aiohttp.ClientError, TimeoutError) as err:
        fix = "check Auth's settings: the doctor signs a user up with the service key"
        return [failed(n, f"no test user: {err}", fix) for n in _NEEDS_KEYS]
    try:
        return [await jwt_check(probe, user), await private_topic_check(probe, user)]
    finally:
        await probe.delete_user(user.id)


async def _db_checks(database_url: str | None) -> list[Check]:
    if database_url:
        return await database_checks(database_url)
    fix = (
        "pass --database-url (the DB URL `python -m gateway embedded` prints; hosted: "
        "Dashboard → Connect → Session pooler)"
    )
    return [failed(n, "not checked: no database URL", fix) for n in _DB_CHECKS]


async def doctor_command(config: Config, database_url: str | None) -> int:
    try:
        checks = await diagnose(config, database_url)
    except (aiohttp.ClientError, TimeoutError) as err:
        # Reachable at first, then gone mid-way: say so rather than print a traceback.
        print(f"the project stopped answering during the checks: {type(err).__name__}: {err}")
        return 1
    print("\n".join(render(checks)), flush=True)
    return 0 if all(c.ok for c in checks) else 1
