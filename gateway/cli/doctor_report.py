"""What `doctor` found: one Check per question, and the printed report.

A check that fails says what is wrong and how to fix it; the report ends with a count
and the exit code is 0 only when every check passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Check", "failed", "passed", "render"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def render(checks: Iterable[Check]) -> list[str]:
    checks = list(checks)
    width = max((len(c.name) for c in checks), default=0)
    lines: list[str] = []
    for check in checks:
        lines.append(f"{'ok' if check.ok else 'FAIL':<4}  {check.name:<{width}}  {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    good = sum(c.ok for c in checks)
    lines.append(f"{good} of {len(checks)} checks passed")
    return lines
