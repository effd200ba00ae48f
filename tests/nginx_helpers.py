"""Debian's nginx running `ops/nginx/gateway.conf` in front of test gateways: the file
as shipped, with only its `listen` port and its upstream `server` lines swapped for the
test's, under a throw-away prefix; stopped by its own pid."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from ops.bench.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_CONF = ROOT / "ops" / "nginx" / "gateway.conf"
# Where Debian's package puts it; `.ci/run` installs the package (README "Tests").
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
START_TIMEOUT = 10.0


def nginx_binary() -> str:
    """The nginx to run; fails (never skips) when it is not installed."""
    found = shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)
    assert found, "nginx is not installed: apt-get install nginx (.ci/run does)"
    return found


def site_config(listen_port: int, upstreams: Sequence[str]) -> str:
    """gateway.conf with the test's port and gateways (`host:port`) in place of its own."""
    text = GATEWAY_CONF.read_text(encoding="utf-8")
    text, listens = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", text)
    servers = re.findall(r"(?m)^\s*server 127\.0\.0\.1:\d+ (.*);$", text)
    assert listens == 1 and servers, "gateway.conf no longer has the lines this test swaps"
    lines = "".join(f"    server {up} {servers[0]};\n" for up in upstreams)
    text = re.sub(r"(?m)(^\s*server 127\.0\.0\.1:\d+ .*;\n)+", lines, text, count=1)
    return text


def main_config(prefix: Path, site: Path) -> str:
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's
    # private temporary directories; the current user owns them (ignored when not root).
    user = pwd.getpwuid(os.geteuid()).pw_name
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
user {user};
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
{temps}
    include {site};
}}
"""


def write_configs(prefix: Path, upstreams: Sequence[str]) -> tuple[Path, int]:
    """nginx.conf (and the site it includes) under `prefix`; with the port it listens on."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()  # nginx cannot listen on port 0 and tell which port it got
    site = prefix / "gateway.conf"
    site.write_text(site_config(port, upstreams), encoding="utf-8")
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site), encoding="utf-8")
    return conf, port


async def _listening(port: int, proc: asyncio.subprocess.Process) -> None:
    while True:
        assert proc.returncode is None, "nginx exited at start"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)  # a port that is not open yet: no event to wait on
            continue
        writer.close()
        await writer.wait_closed()
        return


@asynccontextmanager
async def running_nginx(prefix: Path, upstreams: Sequence[str]) -> AsyncIterator[str]:
    """nginx proxying to `upstreams`; yields its base URL (http://127.0.0.1:PORT)."""
    binary = nginx_binary()
    conf, port = write_configs(prefix, upstreams)
    check = await asyncio.create_subprocess_exec(
        binary, "-t", "-q", "-p", str(prefix), "-c", str(conf), stderr=asyncio.subprocess.PIPE
    )
    _, err = await check.communicate()
    assert check.returncode == 0, err.decode()
    proc = await asyncio.create_subprocess_exec(
        binary, "-p", str(prefix), "-c", str(conf), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.wait_for(_listening(port, proc), START_TIMEOUT)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # this nginx's master only; it stops its workers
            try:
                await asyncio.wait_for(proc.wait(), START_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
