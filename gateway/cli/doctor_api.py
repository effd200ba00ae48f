"""`doctor`'s checks over the project's HTTP APIs: reachability, the two keys and their
roles, the clock, and JWT verification of a token the project itself issued.

Keys are judged twice: by their form (a legacy JWT key's `role` claim, or the
`sb_publishable_` / `sb_secret_` prefix of the new API keys), and by the project (Auth's
/settings takes any valid key; /admin/users only a service_role or secret key, as
supabase/auth's admin routes require). Key values are never printed.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import jwt

from gateway.app import jwks_url
from gateway.auth.jwks import JwksCache
from gateway.auth.verifier import TokenVerifier
from gateway.cli.doctor_report import Check, failed, passed
from gateway.config import Config
from gateway.errors import GatewayError

__all__ = ["ApiProbe", "ProbeUser", "jwt_check", "key_checks", "reachability"]

MAX_CLOCK_SKEW_SECONDS = 5.0
_KEYS_PAGE = "Dashboard → Project Settings → API Keys"


@dataclass(frozen=True)
class ProbeUser:
    """A throwaway user the doctor creates, signs in and deletes."""

    id: str
    access_token: str


def _a(role: str) -> str:
    return f"{'an' if role[0].lower() in 'aeiou' else 'a'} {role}"


def _key_role(key: str) -> str:
    """What a key is by its form: publishable, secret, a JWT role, or unknown."""
    if key.startswith("sb_publishable_"):
        return "publishable"
    if key.startswith("sb_secret_"):
        return "secret"
    try:
        role = jwt.decode(key, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return "unknown"
    return str(role) if role else "unknown"


class ApiProbe:
    """One aiohttp session against the project, with the configured keys."""

    def __init__(self, config: Config, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.base = config.supabase.url.rstrip("/")
        self.session = session

    def headers(self, key: str) -> dict[str, str]:
        """A key as supabase-js sends it: in both headers, `sb_` keys included."""
        return {"apikey": key, "Authorization": f"Bearer {key}"}

    async def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any, str]:
        """(status, JSON body or None, Date header)."""
        async with self.session.request(
            method, self.base + path, headers=headers, json=body
        ) as resp:
            text = await resp.text()
            try:
                data = json.loads(text) if text else None
            except ValueError:  # not a Supabase answer (a proxy's error page, say)
                data = None
            return resp.status, data, resp.headers.get("Date", "")

    async def create_user(self) -> ProbeUser:
        service = self.headers(self.config.supabase.service_key)
        email = f"gateway-doctor-{secrets.token_hex(6)}@example.com"
        password = secrets.token_urlsafe(24)
        body = {"email": email, "password": password, "email_confirm": True}
        status, user, _ = await self.call("POST", "/auth/v1/admin/users", service, body)
        if status != 200:
            raise RuntimeError(f"creating a test user answered {status}: {_message(user)}")
        anon = self.headers(self.config.supabase.anon_key)
        status, session, _ = await self.call(
            "POST",
            "/auth/v1/token?grant_type=password",
            anon,
            {"email": email, "password": password},
        )
        if status != 200:
            await self.delete_user(str(user["id"]))
            raise RuntimeError(f"signing the test user in answered {status}: {_message(session)}")
        return ProbeUser(str(user["id"]), str(session["access_token"]))

    async def delete_user(self, user_id: str) -> None:
        service = self.headers(self.config.supabase.service_key)
        # Best effort: a test user left behind is harmless, a crash here would hide the report.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await self.call("DELETE", f"/auth/v1/admin/users/{user_id}", service)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for field in ("msg", "message", "error_description", "error"):
            if isinstance(body.get(field), str):
                return str(body[field])
    return "no message"


async def reachability(
    probe: ApiProbe, clock: Callable[[], float] = time.time
) -> tuple[Check, Check]:
    """The reachability check and, from the same answer's Date header, the clock check."""
    try:
        anon = probe.headers(probe.config.supabase.anon_key)
        status, _, date = await probe.call("GET", "/auth/v1/health", anon)
        rest, _, _ = await probe.call("GET", "/rest/v1/messages?select=id&limit=0", anon)
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        why = f"{probe.base} does not answer: {type(err).__name__}: {err}"
        fix = "check supabase.url (SUPABASE_URL) and that the project is running (not paused)"
        return failed("reachability", why, fix), failed("clock", "not checked", fix)
    if status >= 500 or rest >= 500:
        why = f"Auth answered {status} and the Data API {rest} at {probe.base}"
        fix = "the project is up but unwell: see its logs (Dashboard → Logs)"
        return failed("reachability", why, fix), _clock_check(date, clock())
    ok = passed("reachability", f"Auth and the Data API answer at {probe.base}")
    return ok, _clock_check(date, clock())


def _clock_check(date: str, now: float) -> Check:
    try:
        theirs = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return failed("clock", "the project's answer had no Date header", "none needed here")
    skew = now - theirs
    # Date has whole seconds: allow one second of rounding on top of the limit.
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS + 1:
        ahead = "ahead of" if skew > 0 else "behind"
        return failed(
            "clock",
            f"this machine is {abs(skew):.0f} s {ahead} the project: fresh tokens look "
            "expired or not yet valid",
            "sync the clock (chrony or systemd-timesyncd)",
        )
    return passed("clock", f"within {MAX_CLOCK_SKEW_SECONDS:.0f} s of the project's")


async def key_checks(probe: ApiProbe) -> list[Check]:
    anon, service = probe.config.supabase.anon_key, probe.config.supabase.service_key
    checks = [_anon_form(_key_role(anon)), _service_form(_key_role(service))]
    if checks[0].ok:
        status, body, _ = await probe.call("GET", "/auth/v1/settings", probe.headers(anon))
        if status != 200:
            checks[0] = failed(
                "anon key",
                f"the project refused it ({status}: {_message(body)})",
                f"copy the anon or publishable key from {_KEYS_PAGE} into SUPABASE_KEY",
            )
    if checks[1].ok:
        status, body, _ = await probe.call(
            "GET", "/auth/v1/admin/users?page=1&per_page=1", probe.headers(service)
        )
        if status != 200:
            checks[1] = failed(
                "service key",
                f"the project refused it for admin calls ({status}: {_message(body)})",
                f"copy the service_role or secret key from {_KEYS_PAGE} into SUPABASE_SERVICE_KEY",
            )
    return checks


def _anon_form(role: str) -> Check:
    if role in ("anon", "publishable"):
        return passed("anon key", f"{_a(role)} key, accepted by the project")
    if role in ("service_role", "secret"):
        return failed(
            "anon key",
            f"{_a(role)} key where the anon key belongs: it bypasses row-level security",
            f"put the anon or publishable key in SUPABASE_KEY ({_KEYS_PAGE})",
        )
    return failed(
        "anon key",
        f"not a Supabase API key (role {role})",
        f"copy the anon or publishable key from {_KEYS_PAGE} into SUPABASE_KEY",
    )


def _service_form(role: str) -> Check:
    if role in ("service_role", "secret"):
        return passed("service key", f"{_a(role)} key, accepted for admin calls")
    return failed(
        "service key",
        f"{_a(role)} key where the service_role key belongs: the gateway's service reads fail",
        f"put the service_role or secret key in SUPABASE_SERVICE_KEY ({_KEYS_PAGE})",
    )


async def jwt_check(probe: ApiProbe, user: ProbeUser) -> Check:
    """The gateway's own verifier, as configured, on a token the project issued."""
    auth = probe.config.auth
    verifier = TokenVerifier(
        secret=auth.jwt_secret,
        jwks=JwksCache(jwks_url(probe.config), probe.session),
        audience=auth.audience,
        algorithms=auth.algorithms,
        leeway_seconds=auth.leeway_seconds,
    )
    alg = str(jwt.get_unverified_header(user.access_token).get("alg"))
    try:
        await verifier.verify(user.access_token)
    except GatewayError as err:
        if alg.startswith("HS"):
            fix = "set auth.jwt_secret (JWT_SECRET) to the project's legacy JWT secret"
        else:
            fix = (
                f"list {alg} in auth.algorithms and leave auth.jwks_url empty (the project's "
                "/auth/v1/.well-known/jwks.json) or point it at the project's JWKS"
            )
        return failed("JWT verification", f"{_a(alg)} token of the project: {err.message}", fix)
    how = "the JWT secret" if alg.startswith("HS") else "the project's JWKS"
    return passed("JWT verification", f"{_a(alg)} token of the project verifies with {how}")
