"""The first screen: the embedded stack's status block and the gateway's own lines, as
`label: value` with the labels right-aligned on their colons (as `supabase status` prints).

The embedded stack prints the block (gateway/embedded/runner.py: the gateway runtime does
not import it, so the two lines that frame the block are repeated here); the launcher reads
it from the child's stdout and prints it once, whole, above its own lines, aligned with it.
"""

from __future__ import annotations

import re

__all__ = ["STATUS_END", "STATUS_START", "aligned", "parse_line"]

STATUS_START = "Embedded Supabase-compatible stack is running."
STATUS_END = "Press Ctrl-C to stop."
_LINE = re.compile(r"^\s*([^:]+):\s(.+)$")


def aligned(fields: list[tuple[str, str]], above: list[str]) -> list[str]:
    """`fields` as lines whose colons stand in the column of the lines `above` (if any
    are longer-labelled than these), so the two blocks read as one."""
    width = max([len(label) for label, _ in fields] + [line.index(":") for line in above])
    return [f"{label:>{width}}: {value}" for label, value in fields]


def parse_line(line: str) -> tuple[str, str] | None:
    """`(label, value)` of one status line, or None for any other line."""
    match = _LINE.match(line.rstrip("\n"))
    return (match[1].strip(), match[2].strip()) if match else None
