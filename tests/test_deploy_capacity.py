"""docs/SCALING.md shows exactly what `python -m ops.capacity` prints, and the model
behaves as the page says: one stopped gateway's sockets fit on the others, a restart storm
never overfills a gateway, Realtime messages grow with the number of gateways (each
receives every event), and presence grows with the square of the shard channels.

Followed: Supabase's Realtime quotas page (Free / Pro / Team) and Realtime's rate counters
as the embedded stack reproduces them (gateway/embedded/realtime/limits.py: a message
counts each time it reaches a channel; a track and each presence diff count).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ops.capacity.model import SOCKETS_MAX, Workload, gateways_for, steady
from ops.capacity.report import SIZES, render
from ops.capacity.simulate import restart_storm

ROOT = Path(__file__).resolve().parent.parent
SCALING = ROOT / "docs" / "SCALING.md"


def test_the_scaling_page_shows_the_simulations_output() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "ops.capacity"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert printed == render()
    page = SCALING.read_text(encoding="utf-8")
    shown = re.search(r"<!-- capacity:begin[^\n]*-->\n(.*?)<!-- capacity:end -->", page, re.S)
    assert shown is not None, "docs/SCALING.md lost its capacity markers"
    assert shown[1] == printed, "docs/SCALING.md is stale: paste `python -m ops.capacity`"


def test_the_other_gateways_hold_a_stopped_ones_sockets() -> None:
    for users in SIZES:
        gateways = gateways_for(users)
        assert users / (gateways - 1) <= SOCKETS_MAX


def test_a_restart_storm_settles_without_overfilling_any_gateway() -> None:
    for users in SIZES:
        storm = restart_storm(users)
        assert storm.max_sockets_per_gateway <= SOCKETS_MAX
        assert 0 < storm.seconds_to_all_live < 60
        assert storm.start_point_queries * 500 >= users / gateways_for(users) - 1


def test_realtime_messages_grow_with_the_gateways_each_event_reaches() -> None:
    small, large = steady(10_000), steady(100_000)
    per_event_small = small.realtime_messages / (2 * small.messages)
    per_event_large = large.realtime_messages / (2 * large.messages)
    assert per_event_small == pytest.approx(small.gateways)
    assert per_event_large == pytest.approx(large.gateways)


def test_presence_grows_with_the_square_of_the_shard_channels() -> None:
    ten, hundred = steady(100_000), steady(1_000_000)
    ratio = hundred.presence_messages / ten.presence_messages
    gateways = hundred.gateways / ten.gateways
    assert gateways**2 * 0.9 < ratio < gateways**2 * 1.1


def test_a_lighter_workload_moves_the_database_limit_proportionally() -> None:
    heavy = steady(100_000)
    light = steady(100_000, Workload(messages_per_user_minute=0.1))
    assert abs(light.db_load * 10 - heavy.db_load) < 1e-9
