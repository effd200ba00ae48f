"""`python -m ops.bench.shapes`: compare the upstream shapes (options: --help)."""

from __future__ import annotations

import sys

from ops.bench.shapes.run import main

if __name__ == "__main__":
    sys.exit(main())
