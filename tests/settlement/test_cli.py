"""``aggregator swap`` and ``python -m aggregator.settlement`` as separate processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.devnet.manifest import DevnetManifest
from tests.settlement.harness import TEST_TIMELOCKS

pytestmark = [pytest.mark.devnet, pytest.mark.slow]


def _settings(path: Path) -> Path:
    lines = ["[timelocks]"] + [f"{k} = {v}" for k, v in TEST_TIMELOCKS.model_dump().items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_swap_from_the_command_line_claims_the_router_quoted_output(
    devnet: DevnetManifest, devnet_state_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path / "settlement.toml")
    coordinator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator.settlement",
            "--devnet-dir",
            str(devnet_state_dir),
            "--redis",
            redis_url,
            "--config",
            str(settings),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert coordinator.stdout is not None
        assert b"coordinator ready" in coordinator.stdout.readline()
        state = tmp_path / "trader"
        common = [
            sys.executable,
            "-m",
            "aggregator.cli",
            "swap",
            "--devnet-dir",
            str(devnet_state_dir),
            "--redis",
            redis_url,
            "--state-dir",
            str(state),
            "--config",
            str(settings),
        ]
        env = {k: v for k, v in os.environ.items() if k != "AGGREGATOR_TRADER_KEY"}
        done = subprocess.run(
            [*common, "run", "--sell", "USDC@alpha", "--buy", "WETH@gamma", "--amount", "2500"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["outcome"] == "claimed"
        assert result["sell"] == "USDC@alpha" and result["buy"] == "WETH@gamma"
        assert int(result["amount_out"]) > 0
        listed = subprocess.run(
            [*common, "list"], capture_output=True, text=True, timeout=60, check=True, env=env
        )
        [entry] = json.loads(listed.stdout)
        assert entry["swap_id"] == result["swap_id"]
        secret = state / "swaps" / f"{entry['hashlock']}.json"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    finally:
        coordinator.terminate()
        coordinator.wait(timeout=30)
    assert coordinator.returncode == 0  # a clean stop on SIGTERM
