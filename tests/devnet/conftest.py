"""Fixtures for tests that need a devnet of their own (not the shared session one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aggregator.devnet import DevnetConfig, DevnetManifest, down
from tests.devnet.helpers import up_sync


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
