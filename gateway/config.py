"""Typed configuration: gateway.toml, then .env, then the environment, validated once.

Every key can be overridden as GATEWAY_<SECTION>_<KEY>; the names users of the original
app know (SUPABASE_URL, SUPABASE_KEY, SUPABASE_SERVICE_KEY, JWT_SECRET) work too.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# The Supabase CLI's local defaults (see README "Embedded stack"): public demo values,
# safe only because the embedded stack listens on loopback.
DEMO_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEMO_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAi"
    "OjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
DEMO_SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9s"
    "ZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)
DEMO_PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
DEMO_SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"

SECRET_KEYS = frozenset(
    {
        "server.metrics_token",
        "supabase.anon_key",
        "supabase.service_key",
        "auth.jwt_secret",
        "embedded.jwt_secret",
        "embedded.anon_key",
        "embedded.service_key",
        "embedded.publishable_key",
        "embedded.secret_key",
        "embedded.database_url",
    }
)

# Names kept from the original app, mapped onto dotted keys.
LEGACY_ENV = {
    "SUPABASE_URL": "supabase.url",
    "SUPABASE_KEY": "supabase.anon_key",
    "SUPABASE_SERVICE_KEY": "supabase.service_key",
    "JWT_SECRET": "auth.jwt_secret",
}

ENV_PREFIX = "GATEWAY_"


class ConfigError(Exception):
    """The configuration is invalid; the message names the dotted key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Pending TCP connections a listening socket of ours queues: a connect burst beyond the
# default backlog (128) gets SYNs dropped, and clients retry after 1, 3, 7 s.
LISTEN_BACKLOG = 2048


class ServerConfig(_Section):
    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8001, ge=0, le=65535, description="Gateway port (0 picks a free one).")
    cors_origins: tuple[str, ...] = Field(
        (), description="Origins allowed for CORS and browser WebSockets; empty allows none."
    )
    shutdown_timeout_seconds: float = Field(10.0, gt=0, description="Grace period on stop.")
    listen_backlog: int = Field(
        LISTEN_BACKLOG,
        ge=1,
        description="Pending TCP connections the kernel queues (capped by net.core.somaxconn).",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A new connection that has not sent its request line and headers within "
        "this is closed (slowloris).",
    )
    metrics_token: str = Field(
        "",
        description="Bearer token /metrics requires; empty: /metrics answers 404.",
    )
    keepalive_timeout_seconds: float = Field(
        75.0,
        gt=0,
        description="An idle kept-alive HTTP connection is closed after this (keep it above "
        "your load balancer's idle timeout).",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Proxies (CIDRs) whose X-Forwarded-For names the client for the "
        "per-address limits; empty trusts none.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR") from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("at least 16 characters (or empty to turn /metrics off)")
        return value


class SupabaseConfig(_Section):
    url: str = Field("", description="Project URL; empty runs the embedded stack.")
    anon_key: str = Field("", description="Anon (or sb_publishable_) key.")
    service_key: str = Field("", description="service_role (or sb_secret_) key.")


class AuthConfig(_Section):
    jwt_secret: str = Field("", description="HS256 secret of the project (legacy JWT secret).")
    jwks_url: str = Field("", description="JWKS URL for ES256/RS256 signing keys.")
    audience: str = Field("authenticated", description="Required `aud` claim.")
    algorithms: tuple[str, ...] = Field(
        ("HS256", "ES256", "RS256"), description="Accepted JWT algorithms (never `none`)."
    )
    leeway_seconds: int = Field(0, ge=0, le=300, description="Clock skew allowed on `exp`.")
    issuer: str = Field(
        "",
        description="Required `iss` claim, e.g. the project's `<url>/auth/v1` (what Supabase "
        "Auth signs); empty: not checked.",
    )

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512"}
        bad = [alg for alg in value if alg not in allowed]
        if bad:
            raise ValueError(f"unsupported algorithm(s) {bad}; choose from {sorted(allowed)}")
        return value


class EmbeddedConfig(_Section):
    host: str = Field("127.0.0.1", description="Address of the embedded API server.")
    api_port: int = Field(
        54321, ge=0, le=65535, description="Embedded API port (Data API, Auth, Realtime)."
    )
    db_port: int = Field(54322, ge=0, le=65535, description="Embedded PostgreSQL port.")
    data_dir: str = Field(".gateway", description="Where the embedded stack keeps its data.")
    database_url: str = Field("", description="Use this PostgreSQL instead of starting one.")
    jwt_secret: str = Field(DEMO_JWT_SECRET, min_length=32, description="HS256 secret.")
    anon_key: str = Field(DEMO_ANON_KEY, description="Legacy anon API key (a JWT).")
    service_key: str = Field(DEMO_SERVICE_KEY, description="Legacy service_role API key.")
    publishable_key: str = Field(DEMO_PUBLISHABLE_KEY, description="sb_publishable_ key.")
    secret_key: str = Field(DEMO_SECRET_KEY, description="sb_secret_ key.")
    signing: Literal["HS256", "ES256", "RS256"] = Field(
        "HS256", description="How user tokens are signed."
    )
    jwt_expiry_seconds: int = Field(3600, ge=10, description="Lifetime of user access tokens.")
    refresh_token_reuse_interval_seconds: int = Field(
        10, ge=0, description="Seconds a rotated refresh token may still be reused (as GoTrue)."
    )
    postgres_restart_delay_seconds: float = Field(
        0.2,
        gt=0,
        le=60,
        description="Wait before restarting a PostgreSQL that died (doubling up to 10 s while"
        " it fails to start).",
    )
    change_feed_max_lag_seconds: float = Field(
        10.0,
        gt=0,
        description="The embedded /health answers 503 when Realtime's change feed is further"
        " behind the database than this.",
    )
    auth_rate_limit_sign_in_sign_ups: int = Field(
        30, ge=1, description="Sign-ups (and user updates) per 5 min per client address."
    )
    auth_rate_limit_token_refresh: int = Field(
        150, ge=1, description="Password sign-ins and token refreshes per 5 min per address."
    )
    realtime_max_payload_kb: int = Field(
        256, ge=1, description="Largest Realtime broadcast payload or presence meta, in KB."
    )
    realtime_max_concurrent_users: int = Field(
        200, ge=1, description="Realtime sockets with a joined channel at once."
    )
    realtime_max_joins_per_second: int = Field(
        100, ge=1, description="Realtime channel joins per second (averaged over a minute)."
    )
    realtime_max_events_per_second: int = Field(
        100, ge=1, description="Realtime messages per second (averaged over a minute)."
    )
    realtime_max_presence_events_per_second: int = Field(
        20, ge=1, description="Realtime presence messages per second (averaged over a minute)."
    )


class LimitsConfig(_Section):
    message_max_chars: int = Field(
        4000, ge=1, le=4000, description="Longest message text (the database caps it at 4000)."
    )
    history_max_limit: int = Field(200, ge=1, description="Largest page of history.")
    ws_max_frame_bytes: int = Field(65536, ge=1024, description="Largest inbound WebSocket frame.")
    ws_queue_max: int = Field(1024, ge=1, description="Outgoing frames queued per socket.")
    ws_auth_timeout_seconds: float = Field(5.0, gt=0, description="Time to send the auth frame.")
    ws_heartbeat_seconds: float = Field(
        30.0,
        gt=0,
        description="A socket quiet this long is pinged; silent half as long again, it is closed.",
    )
    upstream_joins_per_second: float = Field(
        100.0, gt=0, description="Realtime channel joins per second (your plan's quota)."
    )
    # Per user, across all their sockets on this gateway and REST (README "Limits").
    # A rate of 0 turns that limit off.
    send_rate: float = Field(10.0, ge=0, description="Messages a user may send per second.")
    send_burst: int = Field(30, ge=1, description="Messages a user may send at once.")
    typing_rate: float = Field(
        5.0, ge=0, description="Typing events a user may send per second (to any peers)."
    )
    typing_burst: int = Field(10, ge=1, description="Typing events a user may send at once.")
    read_rate: float = Field(10.0, ge=0, description="Read markers per user per second.")
    read_burst: int = Field(30, ge=1, description="Read markers per user at once.")
    resume_rate: float = Field(5.0, ge=0, description="Resume frames per user per second.")
    resume_burst: int = Field(50, ge=1, description="Resume frames per user at once.")
    ws_sockets_per_user: int = Field(
        20, ge=0, description="Sockets one user may hold open on this gateway (0: no limit)."
    )
    ws_sockets_per_address: int = Field(
        500, ge=0, description="Sockets one client address may hold open (0: no limit)."
    )
    ws_sockets_max: int = Field(
        10000, ge=0, description="Sockets this gateway holds at most (0: no limit)."
    )
    ws_handshake_rate: float = Field(
        20.0, ge=0, description="WebSocket handshakes per client address per second (0: no limit)."
    )
    ws_handshake_burst: int = Field(
        50, ge=1, description="WebSocket handshakes one client address may start at once."
    )
    ws_flood_refusals: int = Field(
        30,
        ge=1,
        description="Frames a socket may have refused as rate_limited (one forgiven per "
        "second) before it is closed with rate_limit_flood (4029).",
    )
    ws_ping_rate: float = Field(
        2.0, ge=0, description="Pings a socket may send per second, either kind (0: no limit)."
    )
    ws_ping_burst: int = Field(30, ge=1, description="Pings a socket may send at once.")
    ws_invalid_rate: float = Field(
        1.0, ge=0, description="Frames refused as bad input per socket per second (0: no limit)."
    )
    ws_invalid_burst: int = Field(
        30, ge=1, description="Frames refused as bad input a socket may send at once."
    )


class DeliveryConfig(_Section):
    position_check_seconds: float = Field(
        5.0,
        gt=0,
        le=10,
        description="How often the gateway compares where its users' chats stand in the "
        "database with what it delivered (finds a lost last message).",
    )
    max_feed_lag_seconds: float = Field(
        10.0,
        gt=0,
        description="/readyz fails when a probe published by the database takes longer "
        "than this to come back through Realtime (a stalled change feed).",
    )
    presence_shards: int = Field(
        4,
        ge=1,
        le=50,
        description="Presence channels per gateway, each listing up to ~5,000 of its users.",
    )
    presence_visibility: Literal["chats", "everyone"] = Field(
        "chats",
        description="Who sees a user online: `chats`, only people who share a chat with "
        "them; `everyone` (the original app). Never across a block.",
    )


class LogConfig(_Section):
    format: Literal["text", "json"] = Field(
        "text", description="`text`: key=value lines; `json`: one JSON object per line."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level written (DEBUG adds socket opens and closes)."
    )


class Config(_Section):
    server: ServerConfig = ServerConfig()
    supabase: SupabaseConfig = SupabaseConfig()
    auth: AuthConfig = AuthConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    limits: LimitsConfig = LimitsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    log: LogConfig = LogConfig()

    @property
    def uses_embedded(self) -> bool:
        return not self.supabase.url


def _field_names(section: str) -> set[str]:
    model = Config.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return set(model.model_fields)


def _coerce_env(raw: str) -> Any:
    """Env values are strings; lists may be JSON or comma-separated."""
    stripped = raw.strip()
    if stripped.startswith("["):
        return json.loads(stripped)
    return raw


def _env_overrides(environ: Mapping[str, str | None]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, dotted in LEGACY_ENV.items():
        value = environ.get(name)
        if value:
            section, key = dotted.split(".")
            out.setdefault(section, {})[key] = value
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or value is None:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in Config.model_fields:
            continue  # other GATEWAY_* variables (e.g. GATEWAY_CONFIG) are not keys
        if key not in _field_names(section):
            raise ConfigError(f"{name}: unknown key {section}.{key}")
        list_field = key in {"cors_origins", "algorithms", "trusted_proxies"}
        parsed = _coerce_env(value)
        if list_field and isinstance(parsed, str):
            parsed = [part.strip() for part in parsed.split(",") if part.strip()]
        out.setdefault(section, {})[key] = parsed
    return out


def _merge(base: dict[str, Any], override: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in override.items():
        target = merged.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{section}: expected a table")
        target.update(values)
    return merged


def _format_error(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        dotted = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{dotted}: {message}")
    return "; ".join(lines)


def build_config(
    data: Mapping[str, Any], environ: Mapping[str, str | None] | None = None
) -> Config:
    """Validate a TOML-shaped dict, with environment overrides applied on top."""
    overrides = _env_overrides(environ or {})
    try:
        return Config.model_validate(_merge(dict(data), overrides))
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def load_config(
    path: str | Path = "gateway.toml",
    environ: Mapping[str, str | None] | None = None,
    dotenv_path: str | Path | None = ".env",
) -> Config:
    """Read gateway.toml (missing file = all defaults), then .env, then `environ`."""
    file = Path(path)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{file}: {err}") from None
    elif str(path) != "gateway.toml":
        raise ConfigError(f"{file}: no such file")
    merged_env: dict[str, str | None] = {}
    if dotenv_path is not None and Path(dotenv_path).exists():
        merged_env.update(dotenv_values(dotenv_path))
    merged_env.update(environ or {})
    return build_config(data, merged_env)


def mask(value: str) -> str:
    if not value:
        return ""
    return value[:4] + "…" + f"({len(value)} chars)" if len(value) > 8 else "****"


def effective(config: Config) -> dict[str, dict[str, Any]]:
    """The configuration as a dict with secrets masked, for check-config."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in config.model_dump().items():
        shown: dict[str, Any] = {}
        for key, value in values.items():
            dotted = f"{section}.{key}"
            shown[key] = mask(value) if dotted in SECRET_KEYS and isinstance(value, str) else value
        out[section] = shown
    return out
