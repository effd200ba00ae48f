"""`python -m ops.bench`: run the benchmark (options in ops/bench/options.py)."""

from __future__ import annotations

import sys

from ops.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
