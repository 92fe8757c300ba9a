"""Helpers for tests that need a devnet of their own (not the shared session one)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.devnet import DevnetConfig, DevnetManifest, down, up


def up_sync(config: DevnetConfig, state_dir: Path) -> DevnetManifest:
    """Run ``up`` on a private loop, tying the chains to the test process."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(up(config, state_dir, die_with_parent=True))


@pytest.fixture(scope="module")
def private_devnet(
    devnet_config: DevnetConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevnetManifest]:
    """A fresh devnet for this module only: nothing else has traded on it."""
    state_dir = tmp_path_factory.mktemp("private-devnet")
    try:
        yield up_sync(devnet_config, state_dir)
    finally:
        down(state_dir)
