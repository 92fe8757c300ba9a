"""The AMM connector goes STALE when its node dies and comes back by itself.

The connector follows its own anvil (interval mining, one block a second, with
transactions included at once so set-up is quick, and state kept in a file so
a restart brings the pools back). Killing the node
must show as STALE within two block intervals; restarting it on the same port
must bring the same connector object back to HEALTHY.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aggregator.chain.rpc import RpcCall, rpc_batch
from aggregator.devnet.processes import anvil_binary
from aggregator.models import Asset, AssetRegistry
from aggregator.plugins import ConnectorContext, HealthStatus
from connectors.evm_amm import EvmAmmConfig, EvmAmmConnector
from tests.connectors.evm_amm.lab import PoolLab
from tests.fixtures.processes import free_port

BLOCK_TIME_S = 1
CHAIN_ID = 31999
ASSETS = AssetRegistry([Asset(symbol="TKA", decimals=18), Asset(symbol="TKB", decimals=6)])


class Anvil:
    """One anvil on a fixed port whose state survives a restart."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.state = state_dir / "state.json"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            str(anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(CHAIN_ID),
            "--block-time", str(BLOCK_TIME_S),
            "--mixed-mining",
            "--state", str(self.state),
            "--silent",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGTERM: anvil writes its state file on the way out."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path)
    node.start()
    yield node
    if node.proc is not None:
        node.proc.kill()
        node.proc.wait(timeout=10)


async def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 20
    lab = PoolLab(url)
    while True:
        try:
            await lab.open()
            await lab.close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _wait_status(connector: EvmAmmConnector, want: HealthStatus, bound_s: float) -> float:
    """Seconds until health shows ``want``; fails the test past ``bound_s``."""
    start = time.monotonic()
    while connector.health().status is not want:
        if time.monotonic() - start > bound_s:
            pytest.fail(
                f"health is {connector.health().status.value} "
                f"({connector.health().reason}) {bound_s} s later; expected {want.value}"
            )
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
async def following(anvil: Anvil) -> AsyncIterator[EvmAmmConnector]:
    await _wait_up(anvil.url)
    lab = await PoolLab(anvil.url).open()
    tka = await lab.deploy_token("TKA", 18, [lab.address])
    tkb = await lab.deploy_token("TKB", 6, [lab.address])
    pool = await lab.deploy_pool(tka, tkb, 30, 1_000 * 10**18, 3_000_000 * 10**6)
    await lab.close()
    config = EvmAmmConfig(
        chain="solo",
        chain_id=CHAIN_ID,
        rpc_url=anvil.url,
        block_time_s=BLOCK_TIME_S,
        pools=[
            {
                "address": pool,
                "base": "TKA",
                "quote": "TKB",
                "fee_bps": 30,
                "base_token": tka,
                "quote_token": tkb,
            }
        ],
    )
    connector = EvmAmmConnector(
        config, ConnectorContext(registry=ASSETS, instance_name="solo", extras={})
    )
    await connector.start()
    yield connector
    await connector.stop()


async def test_killed_node_is_stale_within_two_blocks_and_recovers_on_restart(
    anvil: Anvil, following: EvmAmmConnector
) -> None:
    connector = following
    await _wait_status(connector, HealthStatus.HEALTHY, 5 * BLOCK_TIME_S)
    market = connector.markets()[0]
    before = connector.liquidity(market.id)
    assert before is not None
    head_before = connector.chain_state().head

    anvil.kill()
    await _wait_status(connector, HealthStatus.STALE, 2 * BLOCK_TIME_S)
    health = connector.health()
    assert health.reason is not None and "rpc_unavailable" in health.reason
    # the last known state is still served from memory, stamped with its block
    stale = connector.liquidity(market.id)
    assert stale is not None and stale.sequence >= before.sequence

    anvil.start()
    await _wait_status(connector, HealthStatus.HEALTHY, 20)
    after = connector.liquidity(market.id)
    assert after is not None
    assert (after.reserve_base, after.reserve_quote) == (1_000 * 10**18, 3_000_000 * 10**6)
    assert connector.chain_state().head >= head_before
    # and it keeps following new blocks
    seen = connector.chain_state().head
    deadline = time.monotonic() + 5 * BLOCK_TIME_S
    while connector.chain_state().head == seen:
        assert time.monotonic() < deadline, "no new block followed after the restart"
        await asyncio.sleep(0.05)


async def test_stale_when_the_chain_stops_producing_blocks(
    anvil: Anvil, following: EvmAmmConnector
) -> None:
    connector = following
    await _wait_status(connector, HealthStatus.HEALTHY, 5 * BLOCK_TIME_S)
    await rpc_batch(anvil.url, [RpcCall("evm_setIntervalMining", [0])])
    bound = connector.config.stale_after_blocks * BLOCK_TIME_S + 2 * BLOCK_TIME_S
    await _wait_status(connector, HealthStatus.STALE, bound)
    assert "no new block" in (connector.health().reason or "")
    await rpc_batch(anvil.url, [RpcCall("evm_setIntervalMining", [BLOCK_TIME_S])])
    await _wait_status(connector, HealthStatus.HEALTHY, 5 * BLOCK_TIME_S)


async def test_a_node_down_at_start_is_reported_and_picked_up_when_it_comes(
    anvil: Anvil, following: EvmAmmConnector
) -> None:
    config = following.config
    await following.stop()
    anvil.kill()
    late = EvmAmmConnector(
        config, ConnectorContext(registry=ASSETS, instance_name="late", extras={})
    )
    await late.start()
    try:
        await _wait_status(late, HealthStatus.STALE, 2 * BLOCK_TIME_S)
        assert "rpc_unavailable" in (late.health().reason or "")
        assert late.liquidity(late.markets()[0].id) is None
        anvil.start()
        await _wait_status(late, HealthStatus.HEALTHY, 20)
        curve = late.liquidity(late.markets()[0].id)
        assert curve is not None
        assert (curve.reserve_base, curve.reserve_quote) == (1_000 * 10**18, 3_000_000 * 10**6)
    finally:
        await late.stop()
