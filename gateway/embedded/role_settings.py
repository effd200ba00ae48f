"""Role settings for the Data API's transactions, applied as PostgREST applies them.

The pool logs in as a superuser and switches role per request, so PostgreSQL applies no
role's `alter role … set …` by itself. PostgREST has the same problem (it logs in as
`authenticator`) and solves it with "impersonated role settings": it reads the settings
of every role granted to `authenticator` once, and sets them with set_config(…, true) in
each transaction that runs as that role (PostgREST src/…/Config/Database.hs
queryRoleSettings, Query/PreQuery.hs txVarQuery). That is what gives Supabase's `anon`
its 3 s statement_timeout and `authenticated` its 8 s. Since we do not log in as
`authenticator`, its own settings (8 s on Supabase) are applied too, first, as its login
would apply them: a role with no timeout of its own (service_role) inherits that one.

Unlike PostgREST, settings made for this database (`alter role … in database … set …`)
override the role's global ones, as they would at a login. Read once, on first use: after
changing a role's settings restart the embedded stack (PostgREST needs `NOTIFY pgrst,
'reload config'`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

LOGIN_ROLE = "authenticator"
_ISOLATION = "default_transaction_isolation"
_ISOLATION_LEVELS = ("repeatable read", "serializable")

# The settings of the login role and of each role granted to it, database-specific ones
# first; only those a session may set (context 'user', or SET granted on PostgreSQL 15+),
# values lower-cased as PostgREST does.
_SQL = """
with granted as (
  select roleid as oid from pg_auth_members where member = $1::text::regrole
  union
  select $1::text::regrole::oid
),
raw as (
  select s.setrole, s.setdatabase, unnest(s.setconfig) as setting
  from pg_db_role_setting s
  where s.setrole in (select oid from granted)
    and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
),
kv as (
  select setrole, setdatabase,
         substr(setting, 1, strpos(setting, '=') - 1) as key,
         lower(substr(setting, strpos(setting, '=') + 1)) as value
  from raw
)
select distinct on (kv.setrole, kv.key) r.rolname::text as role, kv.key, kv.value
from kv
join pg_roles r on r.oid = kv.setrole
join pg_settings ps on ps.name = kv.key and (ps.context = 'user' {granted_set})
order by kv.setrole, kv.key, kv.setdatabase desc
"""
_GRANTED_SET = "or has_parameter_privilege($1::text::name, ps.name, 'set')"


@dataclass(frozen=True)
class RoleConfig:
    """What a transaction running as one role sets before anything else."""

    login: tuple[tuple[str, str], ...] = ()  # the login role's: set before search_path
    role: tuple[tuple[str, str], ...] = ()  # the role's own: set after it, as PostgREST
    isolation: str = "read committed"


def _configs(rows: list[asyncpg.Record]) -> tuple[dict[str, RoleConfig], RoleConfig]:
    by_role: dict[str, dict[str, str]] = {}
    for row in rows:
        by_role.setdefault(row["role"], {})[row["key"]] = row["value"]
    # A login's default isolation never reaches PostgREST's transactions: it names one.
    login = tuple((k, v) for k, v in by_role.pop(LOGIN_ROLE, {}).items() if k != _ISOLATION)
    configs: dict[str, RoleConfig] = {}
    for role, settings in by_role.items():
        isolation = settings.pop(_ISOLATION, "")
        configs[role] = RoleConfig(
            login,
            tuple(settings.items()),
            isolation if isolation in _ISOLATION_LEVELS else "read committed",
        )
    return configs, RoleConfig(login)


class RoleSettings:
    """Each role's RoleConfig, read from the catalog on first use."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._loaded: tuple[dict[str, RoleConfig], RoleConfig] | None = None
        self._lock = asyncio.Lock()

    async def for_role(self, role: str) -> RoleConfig:
        loaded = self._loaded or await self._load()
        configs, default = loaded
        return configs.get(role, default)

    async def _load(self) -> tuple[dict[str, RoleConfig], RoleConfig]:
        async with self._lock:
            if self._loaded is None:
                async with self._pool.acquire() as conn:
                    granted = conn.get_server_version().major >= 15
                    sql = _SQL.format(granted_set=_GRANTED_SET if granted else "")
                    self._loaded = _configs(list(await conn.fetch(sql, LOGIN_ROLE)))
            return self._loaded
