"""`siaga bench burst`, small: SIAGA as role processes, a burst of presses, every incident
committed, receipted and on a signed-in console, none lost or doubled (slow: about a minute)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.gateway
from bench.scale import scenario_burst


@pytest.mark.slow
async def test_small_burst_reaches_the_console_with_nothing_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.gateway, "DEVICE_CACHE", tmp_path / "devices.json")
    result = await scenario_burst(200, ramp=500.0, presses=200, within_s=1.0)
    assert result["outcome"]["pressed"] == 200
    assert result["outcome"]["lost"] == 0 and result["outcome"]["duplicate"] == 0
    assert result["all_receipted"] and result["console"]["missing"] == 0
    assert result["raw_received"] == 200
    for key in ("last_commit_s", "last_console_s", "last_receipt_s"):
        assert 0 <= result[key] < 60, (key, result[key])
