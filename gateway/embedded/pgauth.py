"""How the embedded PostgreSQL authenticates: a generated superuser password kept beside
the cluster (mode 0600), and a pg_hba.conf that asks everyone for it (SCRAM-SHA-256).

With trust authentication any local process could connect as the superuser and, through
`COPY … FROM PROGRAM`, run commands as the server's user. The password is generated on
first start (a cluster made before it existed gets one on its next start) and printed
in the DB URL, as `supabase status` prints the CLI's.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PASSWORD_FILE = "postgres_password"

# Loopback only, as initdb's own file; replication lines for physical standbys and
# pg_basebackup (logical replication connections match the `all` lines).
HBA_CONF = """\
# Written by the embedded stack on every start; edits are replaced.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
local   replication  all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


def load_or_create_password(path: Path) -> tuple[str, bool]:
    """The password kept at `path`, and whether it was created now (mode 0600 either way)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        password = path.read_text().strip()
        if password:
            return password, False
        raise RuntimeError(f"{path} is empty: delete it to have a new password made") from None
    password = secrets.token_urlsafe(24)  # URL- and SQL-literal-safe characters only
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password, True


def write_hba(pgdata: Path, owner: tuple[int, int] | None) -> None:
    path = pgdata / "pg_hba.conf"
    path.write_text(HBA_CONF)
    if owner is not None:
        os.chown(path, *owner)
    os.chmod(path, 0o600)


def set_password(
    postgres: Path,
    pgdata: Path,
    superuser: str,
    password: str,
    settings: Mapping[str, str],
    process_user: Mapping[str, Any],
) -> None:
    """Set the superuser's password with the server stopped, in single-user mode: no
    connection, so no window in which the cluster accepts one without a password."""
    args: Sequence[str] = [str(postgres), "--single", "-D", str(pgdata)]
    # log_min_error_statement: a failed statement is not echoed (it holds the password).
    forced = {"password_encryption": "scram-sha-256", "log_min_error_statement": "panic"}
    for key, value in {**settings, **forced}.items():
        args = [*args, "-c", f"{key}={value}"]
    statement = f"alter role {superuser} password '{password}'\n"
    done = subprocess.run(
        [*args, "postgres"],
        input=statement.encode(),
        capture_output=True,
        check=False,
        **process_user,
    )
    # Single-user mode reports a failed statement on stderr but still exits 0.
    if done.returncode != 0 or b"ERROR" in done.stderr:
        raise RuntimeError(
            f"could not set the PostgreSQL password (exit {done.returncode}): "
            + done.stderr.decode(errors="replace")[-500:].replace(password, "…")
        )
