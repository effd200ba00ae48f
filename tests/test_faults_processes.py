"""Fault suite: our own processes killed under load — the embedded stack (SIGKILL, then
started again on the same ports and data), the gateway (SIGKILL, then started again), the
gateway stopped with SIGTERM — and a stale PostgreSQL pid file naming someone else's
process. Traffic keeps going throughout (tests/fault_traffic.py); afterwards every
acknowledged message is stored once and every receiver has 1..n in order.

Followed: Supabase Realtime clients rejoin after their socket drops and the server keeps
no per-socket state to lose (supabase/realtime, RealtimeWeb.RealtimeChannel), so the
gateway reconnects to a restarted stack like any client; RFC 6455 §7.4.1: 1001 "going
away" for a server shutting down.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import psutil  # type: ignore[import-untyped]
import pytest

from gateway.embedded.postgres import PostgresServer
from ops.bench.processes import free_port
from tests.fault_rig import fault_rig, record_recovery
from tests.fault_traffic import Traffic, verify

CONVERSATIONS = 4
SHUTDOWN_TIMEOUT = 3.0


async def test_the_embedded_stack_killed_and_restarted_loses_nothing(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGKILL the stack (Data API, Auth, Realtime) under load: its PostgreSQL is orphaned;
    the next start stops that one, starts afresh on the same data, and the gateway
    reconnects by itself; receivers miss nothing."""
    async with fault_rig(tmp_path) as rig:
        convs = await rig.conversations(CONVERSATIONS)
        traffic = Traffic(convs)
        await traffic.until_acked(5)
        orphan = psutil.Process(rig.postmaster_pid())
        killed = time.monotonic()
        await rig.kill(rig.stack)
        assert orphan.is_running()  # PostgreSQL outlived the killed stack
        await rig.start_stack()
        await traffic.until_acked(5)
        await rig.until_ready()
        recovered = time.monotonic() - killed
        assert not orphan.is_running() and rig.postmaster_pid() != orphan.pid
        await traffic.finish()
        stored = await verify(rig.database_url, convs)
    refusals = {code for c in convs for code in c.refusals}
    assert refusals <= {"upstream_unavailable"}, refusals
    record_recovery(
        tmp_path_factory.getbasetemp(),
        "embedded_stack_killed",
        recovered,
        messages_checked=stored,
        conversations=CONVERSATIONS,
        includes_stack_start=True,
    )


async def test_the_gateway_killed_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGKILL the gateway under load and start it again on its port: receivers come
    back with `since_seq`, senders resend what was not acked with the same
    `client_msg_id`; nothing is missed, nothing is stored twice."""
    async with fault_rig(tmp_path) as rig:
        convs = await rig.conversations(CONVERSATIONS)
        traffic = Traffic(convs)
        await traffic.until_acked(5)
        killed = time.monotonic()
        await rig.kill(rig.gateway)
        await rig.start_gateway()
        await traffic.until_acked(5)
        recovered = time.monotonic() - killed
        await traffic.finish()
        stored = await verify(rig.database_url, convs)
    assert all(c.receiver_closes for c in convs)  # every receiver lost its socket
    record_recovery(
        tmp_path_factory.getbasetemp(),
        "gateway_killed",
        recovered,
        messages_checked=stored,
        conversations=CONVERSATIONS,
        resends=sum(c.resends for c in convs),
        includes_gateway_start=True,
    )


async def test_sigterm_closes_sockets_with_1001_and_exits_in_time_keeping_every_ack(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGTERM under load: sockets are closed with 1001 (before: one client not reading
    held up the 1001 of the sockets after it, which got 1006), new connections are refused,
    the process exits (code 0) within `server.shutdown_timeout_seconds`, and every
    message it acknowledged is stored (checked after a restart lets traffic finish)."""
    settings = {"GATEWAY_SERVER_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT)}
    async with fault_rig(tmp_path, **settings) as rig:
        convs = await rig.conversations(CONVERSATIONS)
        traffic = Traffic(convs)
        await traffic.until_acked(5)
        gateway = rig.gateway
        assert gateway is not None
        async with aiohttp.ClientSession() as http:
            # Backgrounded apps: open, and not reading (so not answering a close).
            idle = [
                await http.ws_connect(
                    f"{c.url}/ws/{c.receiver.id}", params={"token": c.sender.token}
                )
                for c in convs
            ]
            began = time.monotonic()
            gateway.send_signal(signal.SIGTERM)
            await asyncio.wait_for(convs[0].receiver_dropped.wait(), SHUTDOWN_TIMEOUT)
            with pytest.raises((aiohttp.ClientError, OSError)):
                await http.ws_connect(
                    f"{convs[0].url}/ws/{convs[0].sender.id}",
                    params={"token": convs[0].receiver.token},
                )
            assert await asyncio.wait_for(gateway.wait(), SHUTDOWN_TIMEOUT + 5) == 0
            took = time.monotonic() - began
            for ws in idle:
                await ws.close()
        assert took < SHUTDOWN_TIMEOUT + 1.0, f"exit took {took:.2f} s"
        assert all(c.receiver_closes[:1] == [1001] for c in convs), [
            c.receiver_closes for c in convs
        ]
        await rig.start_gateway()
        await traffic.finish()
        stored = await verify(rig.database_url, convs)
    record_recovery(
        tmp_path_factory.getbasetemp(),
        "gateway_sigterm",
        took,
        messages_checked=stored,
        shutdown_timeout_seconds=SHUTDOWN_TIMEOUT,
        measures="SIGTERM to process exit",
    )


async def test_a_stale_pid_file_naming_another_process_is_left_alone(tmp_path: Path) -> None:
    """A PostgreSQL killed with its launcher leaves postmaster.pid behind; by the next
    start that pid may be any process. Starting must not signal it (before: SIGINT, and
    SIGKILL 30 s later, to whatever had that pid)."""
    server = PostgresServer(tmp_path / "pgdata", free_port())
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.stop)
    bystander = await asyncio.create_subprocess_exec("sleep", "120")
    try:
        (tmp_path / "pgdata" / "postmaster.pid").write_text(f"{bystander.pid}\n")
        await asyncio.to_thread(server.start)
        try:
            assert bystander.returncode is None and psutil.pid_exists(bystander.pid)
            assert psutil.Process(bystander.pid).status() != psutil.STATUS_ZOMBIE
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        bystander.kill()
        await bystander.wait()
