"""What the bench asks a gateway over plain HTTP and TCP: how many upstream Realtime
sockets and channels it holds (`/metrics`, Prometheus text), when `/readyz` first answers
200, and whether its port accepts connections at all (during a restart).

The delivery design promises a fixed set of upstream channels whatever the number of
users; reading the gauges after the ramp and at the end shows whether it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

UPSTREAM_GAUGES = {"sockets": "gateway_upstream_sockets", "channels": "gateway_upstream_channels"}
# /metrics answers only with the gateway's server.metrics_token: the bench starts its
# gateways with this one (ops/bench/processes.py).
METRICS_TOKEN = secrets.token_urlsafe(24)
POLL_SECONDS = 0.02
TIMEOUT = aiohttp.ClientTimeout(total=5)


def http_base(ws_url: str) -> str:
    """http://host:port of a gateway given its /ws URL (or any URL on it)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return f"{scheme}://{parts.netloc}"


def gauge(text: str, name: str) -> float | None:
    """The value of an unlabelled sample in Prometheus text, None if absent."""
    match = re.search(rf"^{re.escape(name)}\s+(\S+)\s*$", text, re.MULTILINE)
    return float(match[1]) if match else None


async def upstream(base: str) -> dict[str, Any]:
    """{"sockets": n, "channels": n} from /metrics; an `error` instead if it cannot be read."""
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as r,
        ):
            if r.status != 200:
                return {"error": f"HTTP {r.status}"}
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        return {"error": type(err).__name__}
    out: dict[str, Any] = {}
    for key, name in UPSTREAM_GAUGES.items():
        value = gauge(text, name)
        out[key] = int(value) if value is not None else None
    return out


async def first_ready(base: str, deadline: float) -> float | None:
    """Poll /readyz until it answers 200; the monotonic time it did (None past deadline).
    Refused connections and 503s are the expected answers while a gateway starts."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return time.monotonic()
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            await asyncio.sleep(POLL_SECONDS)
    return None


async def port_open(url: str, deadline: float) -> bool:
    """Wait until the URL's host:port accepts a TCP connection (False past deadline). One
    probe stands in for every client while a restarting gateway's port refuses them."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(POLL_SECONDS)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False
