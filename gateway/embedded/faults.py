"""Faults a test can inject into a running embedded stack, in-process only.

`app[faults_key]` (gateway.embedded.appkeys) holds one `FaultHooks` per embedded app, with
every hook None. Nothing outside the process can reach it: no HTTP endpoint, environment
variable or configuration key sets a hook; only code holding the app object can.

- `drop_broadcast(topic, event, payload) -> bool`: asked for every Broadcast from Database
  (a `realtime.messages` row written by `realtime.send`, `realtime.broadcast_changes` or an
  insert) just before it is fanned out; True drops that message for every subscriber, as
  if Realtime had lost it. `topic` is the row's topic (no `realtime:` prefix), `payload`
  the row's JSON payload when it is an object, else `{}` (binary and non-object payloads).
  It runs on the change feed, in commit order: it must be quick and must not raise.

    stack.app[faults_key].drop_broadcast = lambda topic, event, payload: payload.get("seq") == 2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BroadcastDrop = Callable[[str, str, dict[str, Any]], bool]


@dataclass
class FaultHooks:
    """Mutable on purpose: a running app's state may not be replaced, only changed."""

    drop_broadcast: BroadcastDrop | None = None
