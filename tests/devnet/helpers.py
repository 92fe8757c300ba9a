"""Shared helpers for the devnet tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aggregator.devnet import DevnetConfig, DevnetManifest, up


def up_sync(config: DevnetConfig, state_dir: Path) -> DevnetManifest:
    """Run ``up`` on a private loop, tying the chains to the test process."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(up(config, state_dir, die_with_parent=True))
