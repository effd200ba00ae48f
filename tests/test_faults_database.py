"""Fault suite: the embedded PostgreSQL killed (SIGKILL to the postmaster) and hung (SIGSTOP)
under load, through the real gateway and embedded stack processes.

Followed: PostgREST answers 503 `PGRST000` "Database connection error. Retrying the
connection." while its database is unreachable and reconnects by itself
(PostgREST/postgrest src/PostgREST/Error.hs, `ConnectionUsageError`); the gateway maps it to
its retryable `upstream_unavailable` (README "Error codes").
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]
import pytest

from tests.fault_rig import Rig, fault_rig, record_recovery
from tests.fault_traffic import Traffic, verify

CONVERSATIONS = 4
ANSWER_WITHIN = 1.0  # /readyz and /health, database up or down


async def timed_get(url: str, **kwargs: Any) -> tuple[int, Any, float]:
    began = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None), time.monotonic() - began


async def until_unready(rig: Rig) -> dict[str, Any]:
    """Polls /readyz until 503; every answer must come within ANSWER_WITHIN."""
    while True:
        status, body, took = await timed_get(rig.gateway_url + "/readyz")
        assert took < ANSWER_WITHIN, f"/readyz took {took:.2f} s"
        if status == 503:
            result: dict[str, Any] = body
            return result
        await asyncio.sleep(0.02)  # polling an HTTP endpoint: no event to wait on


async def test_a_killed_postgres_is_restarted_and_nothing_acknowledged_is_lost(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Under load, SIGKILL the postmaster: while it is down (the restart waits 3 s here)
    /readyz answers 503 within a second and sends fail fast with `upstream_unavailable`;
    the supervisor restarts it, says so in one line each way, and the service resumes by
    itself: every acknowledged message stored once, every receiver gets 1..n in order."""
    async with fault_rig(tmp_path) as rig:
        convs = await rig.conversations(CONVERSATIONS)
        traffic = Traffic(convs)
        await traffic.until_acked(5)
        pid = rig.postmaster_pid()
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        body = await until_unready(rig)
        assert body["checks"]["database"] is False
        began = time.monotonic()
        status, answer = await rig.rest_send(convs[0].sender, convs[0].receiver, "while down")
        assert (status, answer["error"]["code"]) == (503, "upstream_unavailable")
        assert time.monotonic() - began < ANSWER_WITHIN
        status, _, took = await timed_get(
            rig.api_url + "/health", headers={"apikey": rig.status["anon key"]}
        )
        assert status == 503 and took < ANSWER_WITHIN

        recovery = await traffic.until_acked(5)
        await rig.until_ready()
        recovered = time.monotonic() - killed
        await traffic.finish()
        stored = await verify(rig.database_url, convs)

    refusals = {code for c in convs for code in c.refusals}
    assert refusals == {"upstream_unavailable"}, refusals
    slowest = max(s for c in convs for s in c.refusal_seconds)
    assert slowest < ANSWER_WITHIN, f"a refused send took {slowest:.2f} s"
    log = rig.stack_log.read_text()
    assert log.count(f"PostgreSQL (pid {pid}) exited with code -9") == 1
    assert log.count("PostgreSQL restarted (pid") == 1
    password = rig.database_url.split(":")[2].split("@")[0]
    for secret in (password, rig.status["JWT secret"], rig.status["service_role key"]):
        assert secret not in log
    record_recovery(
        tmp_path_factory.getbasetemp(),
        "postgres_killed",
        recovered,
        restart_delay_seconds=3,
        acks_resumed_after_seconds=round(recovery, 3),
        messages_checked=stored,
        conversations=CONVERSATIONS,
    )


async def test_a_hung_postgres_leaves_readyz_and_health_answering_within_a_second(
    tmp_path: Path,
) -> None:
    """Every PostgreSQL process stopped (SIGSTOP): queries hang rather than fail, yet
    /readyz (gateway) and /health (embedded stack) answer 503 within a second; once
    PostgreSQL continues, /readyz is 200 again by itself. (Before: /readyz waited for the
    Data API call's 10 s deadline.)"""
    async with fault_rig(tmp_path) as rig:
        postmaster = psutil.Process(rig.postmaster_pid())
        processes = [postmaster, *postmaster.children(recursive=True)]
        for proc in processes:
            proc.suspend()
        try:
            status, body, took = await timed_get(rig.gateway_url + "/readyz")
            assert (status, body["checks"]["database"]) == (503, False)
            assert took < ANSWER_WITHIN, f"/readyz took {took:.2f} s"
            status, _, took = await timed_get(
                rig.api_url + "/health", headers={"apikey": rig.status["anon key"]}
            )
            assert status in (200, 503) and took < ANSWER_WITHIN, f"/health took {took:.2f} s"
        finally:
            for proc in processes:
                proc.resume()
        await rig.until_ready(30)
