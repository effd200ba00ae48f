"""Every web.AppKey of the embedded server, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from gateway.config import EmbeddedConfig
from gateway.embedded.faults import FaultHooks
from gateway.embedded.keys import KeyRing
from gateway.embedded.metrics import EmbeddedMetrics

if TYPE_CHECKING:  # cdc imports this module: its types are named here, not imported
    from gateway.embedded.cdc.health import FeedStatus


@dataclass(frozen=True)
class EmbeddedContext:
    """What every part of the embedded server shares."""

    config: EmbeddedConfig
    keys: KeyRing
    pool: asyncpg.Pool
    database_url: str
    data_dir: Path


context_key = web.AppKey("context_key", EmbeddedContext)
metrics_key = web.AppKey("metrics_key", EmbeddedMetrics)
faults_key = web.AppKey("faults_key", FaultHooks)
"""In-process fault injection for tests (see gateway.embedded.faults); never set from outside."""
feed_key: web.AppKey[FeedStatus] = web.AppKey("feed_key")
"""The change feed's state, filled in when it starts (see gateway.embedded.cdc.health)."""
