"""Configuration: file, .env and environment, validated with errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, build_config, effective, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_serve_the_embedded_stack_on_the_documented_ports() -> None:
    config = build_config({})
    assert config.server.port == 8001
    assert config.embedded.api_port == 54321
    assert config.embedded.data_dir == ".gateway"
    assert config.uses_embedded


def test_the_shipped_gateway_toml_is_valid_and_matches_the_defaults() -> None:
    assert load_config(ROOT / "gateway.toml", environ={}, dotenv_path=None) == build_config({})


def test_a_missing_default_file_means_all_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}, dotenv_path=None).server.port == 8001


def test_an_explicit_config_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_unknown_key_is_an_error_naming_its_dotted_path(tmp_path: Path) -> None:
    path = write(tmp_path / "g.toml", "[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"server\.prot: unknown key"):
        load_config(path, environ={})


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "g.toml", "[sever]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"sever: unknown key"):
        load_config(path, environ={})


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.port: .*integer"):
        build_config({"server": {"port": "eighty"}})


def test_out_of_range_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"limits\.message_max_chars"):
        build_config({"limits": {"message_max_chars": 0}})


def test_none_algorithm_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"auth\.algorithms"):
        build_config({"auth": {"algorithms": ["none"]}})


def test_config_models_are_frozen() -> None:
    config = build_config({})
    with pytest.raises(ValueError):
        config.server.port = 1  # type: ignore[misc]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "g.toml", "[server]\nport = 9000\n")
    config = load_config(path, environ={"GATEWAY_SERVER_PORT": "8002"}, dotenv_path=None)
    assert config.server.port == 8002


def test_every_section_can_be_overridden_from_the_environment() -> None:
    config = build_config(
        {},
        {
            "GATEWAY_EMBEDDED_API_PORT": "54999",
            "GATEWAY_EMBEDDED_DATA_DIR": "/var/lib/gw",
            "GATEWAY_AUTH_AUDIENCE": "chat",
            "GATEWAY_LIMITS_MESSAGE_MAX_CHARS": "100",
            "GATEWAY_SUPABASE_URL": "https://x.supabase.co",
        },
    )
    assert config.embedded.api_port == 54999
    assert config.embedded.data_dir == "/var/lib/gw"
    assert config.auth.audience == "chat"
    assert config.limits.message_max_chars == 100
    assert not config.uses_embedded


def test_the_original_apps_variable_names_still_work() -> None:
    config = build_config(
        {},
        {
            "SUPABASE_URL": "https://abc.supabase.co",
            "SUPABASE_KEY": "anon-key",
            "SUPABASE_SERVICE_KEY": "service-key",
            "JWT_SECRET": "s" * 40,
        },
    )
    assert config.supabase.url == "https://abc.supabase.co"
    assert config.supabase.anon_key == "anon-key"
    assert config.supabase.service_key == "service-key"
    assert config.auth.jwt_secret == "s" * 40


def test_lists_come_from_comma_separated_or_json_values() -> None:
    a = build_config({}, {"GATEWAY_SERVER_CORS_ORIGINS": "https://a.example, https://b.example"})
    b = build_config({}, {"GATEWAY_SERVER_CORS_ORIGINS": '["https://a.example"]'})
    assert a.server.cors_origins == ("https://a.example", "https://b.example")
    assert b.server.cors_origins == ("https://a.example",)


def test_unknown_gateway_variable_for_a_known_section_is_an_error() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_SERVER_PROT"):
        build_config({}, {"GATEWAY_SERVER_PROT": "1"})


def test_dotenv_is_read_and_the_environment_beats_it(tmp_path: Path) -> None:
    dotenv = write(tmp_path / ".env", "GATEWAY_SERVER_PORT=8100\nSUPABASE_KEY=from-dotenv\n")
    config = load_config(
        ROOT / "gateway.toml",
        environ={"GATEWAY_SERVER_PORT": "8200"},
        dotenv_path=dotenv,
    )
    assert config.server.port == 8200
    assert config.supabase.anon_key == "from-dotenv"


def test_effective_config_masks_secrets() -> None:
    config = build_config({}, {"JWT_SECRET": "a-very-secret-value-that-is-long-enough"})
    shown = effective(config)
    assert "a-very-secret" not in str(shown)
    assert shown["auth"]["jwt_secret"].startswith("a-ve")
    assert config.embedded.jwt_secret not in str(shown)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_check_config_prints_the_effective_configuration(tmp_path: Path) -> None:
    write(
        tmp_path / "gateway.toml",
        '[server]\nport = 8123\n[auth]\njwt_secret = "top-secret-top-secret-top-secret"\n',
    )
    result = run_cli("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"port": 8123' in result.stdout
    assert "top-secret-top-secret" not in result.stdout


def test_check_config_rejects_a_bad_file_naming_the_key(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", "[limits]\nmessage_max_chars = -5\n")
    result = run_cli("check-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "limits.message_max_chars" in result.stderr


def test_check_config_reports_broken_toml(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", "[server\n")
    result = run_cli("--config", str(bad), "check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.toml" in result.stderr
