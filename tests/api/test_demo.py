"""``aggregator demo`` end to end, as a user runs it, in a devnet dir of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.devnet, pytest.mark.slow]


def test_demo_settles_a_cross_chain_swap_and_serves_the_docs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    state_dir = tmp_path / "devnet"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aggregator.cli",
            "demo",
            "--swaps",
            "1",
            "--exit-after-swaps",
            "--devnet-dir",
            str(state_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # it started a private Redis and its own devnet, and stopped the devnet at the end
    assert "private redis-server at redis://127.0.0.1:" in out
    assert "devnet up in" in out and "stopping the devnet" in out
    assert not (state_dir / "manifest.json").exists()
    # the swap: quoted against delivered, equal, completed
    quoted = re.search(r"quoted\s+(\d+) \(", out)
    delivered = re.search(r"delivered\s+(\d+) \(.*= quoted", out)
    assert quoted and delivered, out
    assert quoted.group(1) == delivered.group(1)
    assert int(quoted.group(1)) > 0
    assert "swap state: completed" in out
    # transactions on both chains of the swap (alpha -> beta)
    txs = re.findall(r"tx (\w+)\s+chain (\w+)\s+(0x[0-9a-f]{64}) status 1", out)
    assert {chain for _, chain, _ in txs} == {"alpha", "beta"}, out
    assert {kind for kind, _, _ in txs} >= {"destination_lock", "source_claim"}
    # and the docs page was served
    docs = re.search(
        r"docs served at (http://127\.0\.0\.1:\d+/docs) \(HTTP 200, (\d+) bytes\)", out
    )
    assert docs and int(docs.group(2)) > 10_000, out
