"""The first screen: the embedded stack's status block and the gateway's own lines, as
`label: value` with the labels right-aligned on their colons (as `supabase status` prints).

The embedded stack prints the block; the launcher reads it from the child's stdout and
prints it once, whole, above its own lines.
"""

from __future__ import annotations

import re

__all__ = ["STATUS_END", "STATUS_START", "aligned", "parse_line"]

# The longest label, "service_role key"; the gateway's lines use the same width.
LABEL_WIDTH = 16
STATUS_START = "Embedded Supabase-compatible stack is running."
STATUS_END = "Press Ctrl-C to stop."
_LINE = re.compile(r"^\s*([^:]+):\s(.+)$")


def aligned(fields: list[tuple[str, str]]) -> list[str]:
    return [f"{label:>{LABEL_WIDTH}}: {value}" for label, value in fields]


def parse_line(line: str) -> tuple[str, str] | None:
    """`(label, value)` of one status line, or None for any other line."""
    match = _LINE.match(line.rstrip("\n"))
    return (match[1].strip(), match[2].strip()) if match else None
