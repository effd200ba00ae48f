"""Wait for Ctrl-C or SIGTERM, for the foreground commands; and children that do not
outlive the process that started them."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

PARENT_ENV = "GATEWAY_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process that must stop when this one dies."""
    return {**env, PARENT_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """In a child started with `child_env`: be sent SIGINT (our graceful stop) when the
    parent dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG) — a killed launcher or
    benchmark used to leave its embedded stack and PostgreSQL running. If the parent is
    already gone, exit now. Elsewhere than Linux this does nothing."""
    parent = os.environ.pop(PARENT_ENV, None)  # not inherited by our own children
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0) != 0:
        log.warning("cannot follow the parent's death: errno %d", ctypes.get_errno())
        return
    if os.getppid() != int(parent):  # it died before prctl took effect
        raise SystemExit("the process that started this one is gone")
