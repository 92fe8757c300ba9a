"""``up`` / ``down`` bookkeeping: idempotence, stale state, failures leave nothing running."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from aggregator.devnet import (
    DevnetConfig,
    UpContext,
    down,
    load_manifest,
    running_manifest,
    up,
)
from aggregator.devnet.context import PROCESSES_FILE
from aggregator.devnet.lifecycle import chain_heights, start_chains
from aggregator.devnet.manifest import ProcessRecord
from aggregator.devnet.processes import ANVIL_ENV, is_running
from aggregator.errors import DevnetError
from tests.devnet.helpers import up_sync

pytestmark = pytest.mark.devnet


def pid_state(pid: int) -> str | None:
    """Process state letter from /proc, ``None`` if the pid does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def gone(pid: int) -> bool:
    return pid_state(pid) in (None, "Z", "X")


def test_up_twice_returns_the_running_devnet_without_starting_anything(
    devnet_config: DevnetConfig, tmp_path: Path
) -> None:
    try:
        first = up_sync(devnet_config, tmp_path)
        assert load_manifest(tmp_path) == first
        assert all(is_running(p) for p in first.processes)
        assert len(first.processes) == len(devnet_config.chains) + int(devnet_config.venue.enabled)
        second = up_sync(devnet_config, tmp_path)
        assert second == first
        assert running_manifest(tmp_path) == first
    finally:
        stopped = down(tmp_path)
    assert sorted(p.pid for p in stopped) == sorted(p.pid for p in first.processes)
    assert all(gone(p.pid) for p in first.processes)
    assert not (tmp_path / "manifest.json").exists()
    assert not (tmp_path / PROCESSES_FILE).exists()
    assert down(tmp_path) == []


def test_up_replaces_a_devnet_whose_chain_died(devnet_config: DevnetConfig, tmp_path: Path) -> None:
    try:
        first = up_sync(devnet_config, tmp_path)
        victim = first.chains[0].pid
        os.kill(victim, signal.SIGKILL)
        for _ in range(500):
            if gone(victim):
                break
            time.sleep(0.01)
        assert running_manifest(tmp_path) is None

        second = up_sync(devnet_config, tmp_path)
        old = {p.pid for p in first.processes}
        assert not old & {p.pid for p in second.processes}
        assert all(gone(pid) for pid in old)
        assert all(is_running(p) for p in second.processes)
        heights = asyncio.run(chain_heights(second))
        assert all(h is not None for h in heights.values())
    finally:
        down(tmp_path)


async def test_a_failing_step_stops_what_was_started_and_writes_no_manifest(
    devnet_config: DevnetConfig, tmp_path: Path
) -> None:
    started: list[ProcessRecord] = []

    async def broken_step(ctx: UpContext) -> None:
        started.extend(ctx.processes)
        raise ValueError("deliberate failure")

    with pytest.raises(DevnetError, match="deliberate failure"):
        await up(devnet_config, tmp_path, steps=(start_chains, broken_step), die_with_parent=True)
    assert len(started) == len(devnet_config.chains)
    assert all(gone(p.pid) for p in started)
    assert not (tmp_path / "manifest.json").exists()
    assert not (tmp_path / PROCESSES_FILE).exists()
    with pytest.raises(DevnetError):
        load_manifest(tmp_path)


async def test_a_missing_anvil_is_reported_and_nothing_is_left_behind(
    devnet_config: DevnetConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ANVIL_ENV, str(tmp_path / "no-such-anvil"))
    with pytest.raises(DevnetError, match="anvil not found"):
        await up(devnet_config, tmp_path / "state")
    assert down(tmp_path / "state") == []


def test_down_on_a_state_dir_that_never_ran_does_nothing(tmp_path: Path) -> None:
    assert down(tmp_path / "missing") == []
    assert down(tmp_path) == []
