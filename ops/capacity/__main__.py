"""`python -m ops.capacity`: print the capacity tables (docs/SCALING.md shows them)."""

from __future__ import annotations

import sys

from ops.capacity.report import render

if __name__ == "__main__":
    sys.stdout.write(render())
