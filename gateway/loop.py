"""The event loop every process of ours runs on: uvloop (libuv), the loop most aiohttp
deployments use in production — measured here on the gateway's hot path (one Data API
call and a few WebSocket frames per message), see ops/bench/RESULTS.md."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a uvloop event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
