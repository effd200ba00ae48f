"""The container's HEALTHCHECK: exit 0 when the gateway here answers `/readyz` with 200.

Docker runs it inside the container (the slim image has no curl); it asks the port the
gateway listens on (GATEWAY_SERVER_PORT) on loopback, and prints why it is unhealthy,
which `docker inspect` shows.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0  # under the Dockerfile's --timeout=5s

__all__ = ["main"]


def main() -> int:
    port = os.environ.get("GATEWAY_SERVER_PORT", "8001")
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
            print(f"ready ({answer.status})")
            return 0
    except urllib.error.HTTPError as err:  # 503: which check failed is in the body
        print(f"not ready ({err.code}): {err.read(2000).decode(errors='replace')}")
    except OSError as err:
        print(f"no answer from {url}: {err}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
