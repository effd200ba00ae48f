"""The embedded PostgreSQL asks for a password: a process on this machine that does not
have it cannot connect as the superuser (and so cannot run commands through `COPY …
FROM PROGRAM`), and the commands the server does run get no root group.

Followed: the Supabase CLI's local database, which asks for a password (SCRAM-SHA-256)
and prints it in the `DB URL` of `supabase status`; here it is generated per data
directory rather than the CLI's well-known `postgres`.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from gateway.config import build_config
from gateway.embedded.pgauth import PASSWORD_FILE
from gateway.embedded.postgres import SYSTEM_USER, PostgresServer
from gateway.embedded.runner import embedded_stack
from ops.bench.processes import free_port
from tests.conftest import Cluster


async def _refused(**params: object) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        conn = await asyncpg.connect(user="postgres", database="postgres", **params)
        await conn.close()


async def _refuses_all_but_the_password(server: PostgresServer) -> None:
    tcp = {"host": server.host, "port": server.port}
    socket = {"host": str(server.pgdata), "port": server.port}  # its socket directory
    for where in (tcp, socket):
        await _refused(**where)
        await _refused(**where, password="postgres")  # the Supabase CLI's local password
    conn = await asyncpg.connect(server.url())
    try:
        assert await conn.fetchval("select current_user") == "postgres"
    finally:
        await conn.close()


async def test_the_cluster_refuses_connections_without_its_password(pg_cluster: Cluster) -> None:
    await _refuses_all_but_the_password(pg_cluster.server)


async def test_commands_the_server_runs_get_no_root_group(pg_cluster: Cluster) -> None:
    """What `COPY … FROM PROGRAM` runs: the server's user with that user's own group,
    not root's groups (the server is started by root here, and by CI)."""
    conn = await asyncpg.connect(pg_cluster.url())
    try:
        await conn.execute("create temp table ids (line text); copy ids from program 'id -G'")
        groups = {int(g) for g in (await conn.fetchval("select line from ids")).split()}
    finally:
        await conn.close()
    assert 0 not in groups
    if os.geteuid() == 0:
        assert groups == {pwd.getpwnam(SYSTEM_USER).pw_gid}


def test_the_server_process_is_in_no_root_group(pg_cluster: Cluster) -> None:
    assert pg_cluster.server.pid is not None
    status = Path(f"/proc/{pg_cluster.server.pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    assert "0" not in fields["Gid"].split() + fields["Groups"].split()
    if os.geteuid() == 0:
        assert set(fields["Gid"].split()) == {str(pwd.getpwnam(SYSTEM_USER).pw_gid)}
        assert fields["Groups"].split() == []


async def test_the_printed_db_url_carries_the_password_kept_in_the_data_dir(
    tmp_path: Path,
) -> None:
    config = build_config(
        {"embedded": {"data_dir": str(tmp_path), "api_port": 0, "db_port": free_port()}}
    )
    async with embedded_stack(config) as status:
        url = urlsplit(status.db_url)
        kept = tmp_path / PASSWORD_FILE
        assert url.password == kept.read_text().strip()
        assert len(url.password) >= 32
        assert kept.stat().st_mode & 0o777 == 0o600
        assert f"          DB URL: {status.db_url}" in status.lines()
        conn = await asyncpg.connect(status.db_url)
        try:
            assert await conn.fetchval("show password_encryption") == "scram-sha-256"
        finally:
            await conn.close()
        await _refused(host=url.hostname, port=url.port)


async def test_a_cluster_made_with_trust_authentication_gets_a_password(tmp_path: Path) -> None:
    """Clusters initialised before passwords (initdb --auth=trust, no password file) are
    secured on their next start, before they accept a connection."""
    server = PostgresServer(tmp_path / "pgdata", free_port())
    server.init()  # what the old code left: initdb's trust pg_hba.conf, no password
    assert "trust" in (server.pgdata / "pg_hba.conf").read_text()
    assert not (tmp_path / PASSWORD_FILE).exists()
    server.start()
    try:
        await _refuses_all_but_the_password(server)
    finally:
        server.stop()
