"""The README stays true: its quick start and configuration table match the code."""

from __future__ import annotations

from pathlib import Path

from gateway.config import Config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_the_two_documented_commands() -> None:
    assert "pip install -r requirements.txt && python -m gateway\npython -m pytest\n" in README


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == "python -m pytest"


def test_every_configuration_key_is_documented_with_its_variable() -> None:
    missing = []
    for section, field in Config.model_fields.items():
        model = field.annotation
        assert model is not None
        for key in model.model_fields:
            row = f"| `{section}.{key}` | `GATEWAY_{section.upper()}_{key.upper()}"
            if row not in README:
                missing.append(f"{section}.{key}")
    assert not missing, f"README configuration table lacks {missing}"


def test_every_error_code_is_documented_with_its_status_and_close_code() -> None:
    from gateway.errors import ErrorCode

    for code in ErrorCode:
        close = str(code.spec.close_code) if code.spec.close_code else "—"
        row = f"| `{code.code}` | {code.spec.status} | {close} | {code.spec.message} |"
        assert row in README, f"README error table lacks or misstates {code.code}"
