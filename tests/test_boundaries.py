"""The gateway's runtime never imports the embedded stack: it reaches Supabase (hosted or
embedded) only through the official clients. Only the CLI may start the embedded stack."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gateway"
CLI_ONLY = {"__main__.py"}  # `python -m gateway embedded` runs it in the foreground


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_runtime_modules_do_not_import_the_embedded_stack() -> None:
    runtime = [
        path
        for path in PACKAGE.rglob("*.py")
        if "embedded" not in path.relative_to(PACKAGE).parts and path.name not in CLI_ONLY
    ]
    assert len(runtime) > 30  # every package of the core, not just the top level
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(path) if m.startswith("gateway.embedded")
        )
        for path in runtime
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_embedded_stack_does_not_import_the_gateway_runtime() -> None:
    allowed = {"gateway.config", "gateway.migrate", "gateway.signals"}
    offenders = {}
    for path in (PACKAGE / "embedded").rglob("*.py"):
        mods = {
            m
            for m in imported_modules(path)
            if m.startswith("gateway.")
            and not m.startswith("gateway.embedded")
            and m not in allowed
        }
        if mods:
            offenders[str(path.relative_to(PACKAGE))] = sorted(mods)
    assert offenders == {}
