"""``aggregator devnet up|status|down`` as a user runs it: separate processes, one state dir."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.devnet import down, load_manifest
from aggregator.devnet.processes import anvil_binary

pytestmark = pytest.mark.devnet


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_DEVNET")}
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "devnet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def anvil_pids() -> set[int]:
    """Every running process on this machine whose executable is the devnet's anvil."""
    binary = anvil_binary().resolve()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "exe")) == binary and not is_zombie(int(entry.name)):
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X")


def test_devnet_up_status_down_through_the_cli(tmp_path: Path) -> None:
    state = str(tmp_path)
    try:
        result = run_cli("up", "--state-dir", state)
        assert result.returncode == 0, result.stderr
        assert "devnet up in" in result.stdout
        manifest = load_manifest(tmp_path)
        assert len(manifest.chains) == 3
        recorded = {p.pid for p in manifest.processes}
        assert manifest.venue is not None
        assert {c.pid for c in manifest.chains} | {manifest.venue.pid} == recorded
        # The chains and the venue outlive the command that started them.
        assert {c.pid for c in manifest.chains} <= anvil_pids()
        assert not is_zombie(manifest.venue.pid)

        status = run_cli("status", "--state-dir", state)
        assert status.returncode == 0, status.stderr
        for chain in manifest.chains:
            line = re.search(rf"^chain {chain.key} .*height=(\d+)", status.stdout, re.MULTILINE)
            assert line is not None, status.stdout
            assert int(line.group(1)) >= 1
            assert f"id={chain.chain_id}" in line.group(0)
            assert chain.htlc in status.stdout
            for token in chain.tokens.values():
                assert token.address in status.stdout
            for pool in chain.pools:
                assert pool.address in status.stdout

        before = anvil_pids()
        again = run_cli("up", "--state-dir", state)
        assert again.returncode == 0, again.stderr
        assert "already up" in again.stdout
        assert load_manifest(tmp_path) == manifest
        assert anvil_pids() == before

        stopped = run_cli("down", "--state-dir", state)
        assert stopped.returncode == 0, stopped.stderr
        for pid in recorded:
            assert f"(pid {pid})" in stopped.stdout
            assert is_zombie(pid)  # gone, or at worst waiting to be reaped
        assert not recorded & anvil_pids()
        assert is_zombie(manifest.venue.pid)
        assert not (tmp_path / "manifest.json").exists()

        after = run_cli("status", "--state-dir", state)
        assert after.returncode == 1
        assert "not running" in after.stdout
    finally:
        down(tmp_path)
