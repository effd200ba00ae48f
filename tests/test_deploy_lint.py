"""What cannot run here (no Docker engine, no systemd as PID 1) is linted by the tools
that judge it: hadolint for ops/Dockerfile, the Compose Specification's JSON schema for
ops/docker-compose.yml, `systemd-analyze verify` for the unit; each lint is shown to
fail on a broken copy, so a passing lint means something. The settings the three files
share with the gateway (stop timeouts, file descriptors, check-config first) are checked
against the gateway's own configuration.

Followed: hadolint's rules (DL/SC codes), compose-spec's schema as vendored by
check-jsonschema, systemd.service(5) and systemd.exec(5); Docker's `docker stop` sends
SIGTERM and kills after the grace period (10 s by default).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from gateway.config import LEGACY_ENV, Config

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "ops" / "Dockerfile"
COMPOSE = ROOT / "ops" / "docker-compose.yml"
UNIT = ROOT / "ops" / "systemd" / "chat-gateway.service"
# The launcher waits this long for an embedded stack to stop (gateway/cli/launcher.py).
EMBEDDED_STOP_SECONDS = 30.0


def _tool(name: str) -> str:
    """A lint installed with requirements.txt (beside this Python) or by .ci/run's apt."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed (requirements.txt / .ci/run install it)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(_tool("hadolint"), "--no-color", str(path))


def compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    schema = ("--builtin-schema", "vendor.compose-spec")
    return _run(sys.executable, "-m", "check_jsonschema", *schema, str(path))


def systemd_verify(unit: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` in a throw-away root holding the unit, the targets it
    names and a stand-in for the interpreter it runs (verify checks executables exist)."""
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True, exist_ok=True)
    targets = root / "usr" / "lib" / "systemd" / "system"
    targets.mkdir(parents=True, exist_ok=True)
    for system_dir in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        for target in system_dir.glob("*.target"):
            shutil.copy(target, targets / target.name)
    python = root / "opt" / "chat-gateway" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    shutil.copy(unit, units / unit.name)
    return _run(_tool("systemd-analyze"), "verify", f"--root={root}", str(units / unit.name))


def test_the_dockerfile_passes_hadolint_and_a_bad_one_does_not(tmp_path: Path) -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    refused = hadolint(bad)
    assert refused.returncode != 0 and "DL3007" in refused.stdout  # an unpinned base image


def test_the_image_runs_unprivileged_checks_config_first_and_is_healthy_only_when_ready() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "FROM python:3.11-slim-bookworm" in lines
    user = [line for line in lines if line.startswith("USER ")]
    assert user == ["USER 10001"]  # the last USER wins: not root
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert 'CMD ["python", "-m", "ops.docker.healthcheck"]' in lines
    assert lines.index('ENTRYPOINT ["/app/ops/docker/entrypoint.sh"]') > lines.index(user[0])
    entrypoint = (ROOT / "ops" / "docker" / "entrypoint.sh").read_text()
    assert entrypoint.index("python -m gateway check-config") < entrypoint.index("exec python")


def test_the_compose_file_matches_the_compose_spec_and_a_bad_one_does_not(
    tmp_path: Path,
) -> None:
    result = compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["gateway"]["stop_grace_period"] = ["45s"]
    broken["services"]["gateway"]["restart_policy"] = "always"  # not a service key
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(yaml.safe_dump(broken))
    assert compose_schema(bad).returncode != 0


def _seconds(value: str) -> float:
    assert value.endswith("s"), value
    return float(value[:-1])


def test_the_compose_gateway_uses_supabases_images_and_stops_gracefully() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    included = [entry["path"] for entry in compose["include"]]
    assert len(included) == 1 and included[0].endswith("/docker-compose.yml")
    ours = compose["services"]
    # Only our image is built; Supabase's services come from its own file, unchanged.
    assert set(ours) == {"migrate", "gateway"}
    gateway = ours["gateway"]
    assert {"db", "auth", "realtime", "kong"} & set(gateway["depends_on"]) == {
        "auth",
        "realtime",
        "kong",
    }
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The variables are the ones the gateway reads (the original app's names).
    assert set(LEGACY_ENV) <= set(gateway["environment"])
    shutdown = Config().server.shutdown_timeout_seconds
    assert _seconds(gateway["stop_grace_period"]) > shutdown + EMBEDDED_STOP_SECONDS
    assert gateway["ulimits"]["nofile"]["soft"] > Config().limits.ws_sockets_max


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_the_systemd_unit_verifies_and_a_bad_one_does_not(tmp_path: Path) -> None:
    result = systemd_verify(UNIT, tmp_path / "good")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    bad = tmp_path / "chat-gateway.service"
    bad.write_text(UNIT.read_text().replace("LimitNOFILE=65536", "LimitNOFILE=lots"))
    refused = systemd_verify(bad, tmp_path / "bad")
    assert "LimitNOFILE" in refused.stderr or "resource value" in refused.stderr


def test_the_unit_checks_config_first_and_outlasts_the_graceful_stop() -> None:
    service = _unit()["Service"]
    start, pre = service["ExecStart"], service["ExecStartPre"]
    config_arg = start.split("--config", 1)[1].strip()
    assert pre.endswith(f"-m gateway check-config --config {config_arg}")
    assert service["RestartPreventExitStatus"] == "2"  # a bad configuration is not retried
    shutdown = Config().server.shutdown_timeout_seconds
    assert _seconds(service["TimeoutStopSec"]) > shutdown + EMBEDDED_STOP_SECONDS
    assert int(service["LimitNOFILE"]) > Config().limits.ws_sockets_max
