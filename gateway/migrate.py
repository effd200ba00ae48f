"""Apply sql/ migrations in order, once each, recorded with a checksum.

A migration is `YYYYMMDDHHMMSS_intent.sql`. Each runs in its own transaction together
with its record in gateway_migrations.schema_migrations, so a failure leaves nothing
half-applied. An applied file whose content changed stops the run: fix forward with a
new migration instead of editing history.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
NAME_RE = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6777_6D69  # serialises concurrent runners on one database

_SETUP = """
create schema if not exists gateway_migrations;
create table if not exists gateway_migrations.schema_migrations (
  version text primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now()
);
"""


class MigrationError(Exception):
    """A migration cannot be applied; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = NAME_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: name must be YYYYMMDDHHMMSS_intent.sql")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found.append(Migration(match["version"], match["name"], path, digest))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a version")
    return found


async def applied_versions(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("select version, checksum from gateway_migrations.schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def migrate(database_url: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the file names applied by this call."""
    migrations = discover(sql_dir)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_SETUP)
            return await _apply_pending(conn, migrations)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def recorded_versions(conn: asyncpg.Connection) -> dict[str, str]:
    """Like applied_versions, on a database migrate may never have touched (nothing
    recorded yet), without creating anything."""
    exists = await conn.fetchval(
        "select to_regclass('gateway_migrations.schema_migrations') is not null"
    )
    return await applied_versions(conn) if exists else {}


def unapplied(migrations: list[Migration], done: dict[str, str]) -> list[Migration]:
    """The migrations not yet recorded, in order; an applied file changed since stops it."""
    for migration in migrations:
        recorded = done.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"{migration.path.name} was changed after it was applied "
                f"(checksum {recorded[:12]} in the database, {migration.checksum[:12]} on disk); "
                "add a new migration instead"
            )
    return [m for m in migrations if m.version not in done]


async def pending(database_url: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """The file names `migrate` would apply, in order; reads only, writes nothing."""
    migrations = discover(sql_dir)
    conn = await asyncpg.connect(database_url)
    try:
        return [m.path.name for m in unapplied(migrations, await recorded_versions(conn))]
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    applied: list[str] = []
    for migration in unapplied(migrations, await applied_versions(conn)):
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into gateway_migrations.schema_migrations (version, name, checksum)"
                    " values ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        except asyncpg.PostgresError as err:
            raise MigrationError(f"{migration.path.name}: {err}") from err
        log.info("applied migration %s", migration.path.name)
        applied.append(migration.path.name)
    return applied
