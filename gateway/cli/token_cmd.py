"""`python -m gateway token EMAIL [--password P]`: print an access token for trying the API.

Signs in through Supabase Auth with the official client; on the embedded stack a
missing user is signed up first. Only the token goes to stdout, so
`TOKEN=$(python -m gateway token a@example.com)` works.
"""

from __future__ import annotations

import sys

from supabase import acreate_client
from supabase_auth.errors import AuthApiError

from gateway.config import Config

DEV_PASSWORD = "chat-gateway-dev-password"  # embedded stack only: loopback, demo keys


def project_of(config: Config) -> tuple[str, str]:
    if config.uses_embedded:
        emb = config.embedded
        return f"http://{emb.host}:{emb.api_port}", emb.anon_key
    return config.supabase.url, config.supabase.anon_key


async def issue_token(config: Config, email: str, password: str | None) -> str:
    url, key = project_of(config)
    if password is None:
        if not config.uses_embedded:
            raise SystemExit("--password is required for a hosted Supabase project")
        password = DEV_PASSWORD
    client = await acreate_client(url, key)
    try:
        response = await client.auth.sign_in_with_password({"email": email, "password": password})
    except AuthApiError as err:
        if not config.uses_embedded or err.code != "invalid_credentials":
            raise SystemExit(f"sign-in failed: {err.message}") from None
        response = await client.auth.sign_up({"email": email, "password": password})
    if response.session is None:
        raise SystemExit("signed up, but the project requires email confirmation first")
    return response.session.access_token


def print_token(token: str) -> None:
    sys.stdout.write(token + "\n")
