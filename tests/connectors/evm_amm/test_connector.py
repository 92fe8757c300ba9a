"""The AMM connector's reads, gas tracking, configuration checks and execution paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import connectors.evm_amm.reader as reader_module
from aggregator.chain.rpc import RpcCall, TxSender, close_web3, make_web3, rpc_batch
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import ConfigError, SlippageExceededError, TransactionRevertedError
from aggregator.models import AssetRegistry, Side, load_assets_config
from aggregator.plugins import ConnectorContext, ExecutionRequest, HealthStatus
from aggregator.plugins.registry import asset_registry_for_manifest
from connectors.evm_amm import EvmAmmConfig, EvmAmmConnector, abi, configs_from_manifest
from connectors.evm_amm.executor import SwapExecutor, min_out_for_limit
from connectors.evm_amm.reader import PoolRef

pytestmark = pytest.mark.devnet

ASSETS_TOML = Path(__file__).resolve().parents[3] / "config" / "assets.toml"


def _registry(manifest: DevnetManifest) -> AssetRegistry:
    return asset_registry_for_manifest(manifest, load_assets_config(ASSETS_TOML))


def _config(manifest: DevnetManifest, **changes: Any) -> EvmAmmConfig:
    entry = configs_from_manifest(manifest)[0]
    return EvmAmmConfig.model_validate({**entry["config"], **changes})


def _connector(manifest: DevnetManifest, **changes: Any) -> EvmAmmConnector:
    context = ConnectorContext(registry=_registry(manifest), instance_name="alpha", extras={})
    return EvmAmmConnector(_config(manifest, **changes), context)


async def _healthy(connector: EvmAmmConnector) -> None:
    for _ in range(500):
        if connector.health().status is HealthStatus.HEALTHY:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"not healthy: {connector.health()}")


@pytest.fixture
async def alpha(devnet_snapshot: DevnetManifest) -> AsyncIterator[EvmAmmConnector]:
    connector = _connector(devnet_snapshot)
    await connector.start()
    await _healthy(connector)
    yield connector
    await connector.stop()


def test_configs_from_manifest_cover_every_chain_and_pool(devnet: DevnetManifest) -> None:
    entries = configs_from_manifest(devnet)
    assert [e["name"] for e in entries] == [c.key for c in devnet.chains]
    for entry, chain in zip(entries, devnet.chains, strict=True):
        config = EvmAmmConfig.model_validate(entry["config"])
        assert config.chain_id == chain.chain_id
        assert config.confirmations == chain.confirmations
        assert {p.address for p in config.pools} == {p.address for p in chain.pools}
        assert config.executor_private_key is not None


async def test_each_block_is_read_in_one_batch_with_every_pool(
    alpha: EvmAmmConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    real = reader_module.rpc_batch

    async def recording(url: str, calls: Sequence[RpcCall], **kw: Any) -> list[Any]:
        batches.append([c.method for c in calls])
        return await real(url, calls, **kw)

    monkeypatch.setattr(reader_module, "rpc_batch", recording)
    first = alpha.chain_state().head
    for _ in range(200):
        if alpha.chain_state().head >= first + 2:
            break
        await asyncio.sleep(0.05)
    reads = [b for b in batches if "eth_getBlockByNumber" in b]
    assert reads, "no block read observed"
    pools = len(alpha.markets())
    for methods in reads:
        assert methods.count("eth_call") == pools
        assert methods[0] == "eth_getBlockByNumber"
    # between block reads only the cheap head poll is sent
    assert {tuple(b) for b in batches if b not in reads} <= {("eth_blockNumber",)}


async def test_quoting_reads_memory_only(
    alpha: EvmAmmConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def refuse(url: str, batch: Sequence[RpcCall], **kw: Any) -> list[Any]:
        calls.extend(c.method for c in batch)
        raise AssertionError("RPC while quoting")

    monkeypatch.setattr(reader_module, "rpc_batch", refuse)
    for _ in range(1_000):
        for market in alpha.markets():
            curve = alpha.liquidity(market.id)
            assert curve is not None
            curve.amount_out(10**6, Side.BUY_BASE)
        alpha.chain_state()
    assert calls == []


async def test_chain_state_tracks_head_gas_and_confirmations(
    alpha: EvmAmmConnector, devnet_snapshot: DevnetManifest
) -> None:
    chain = devnet_snapshot.chains[0]
    state = alpha.chain_state()
    header, tip = await rpc_batch(
        chain.rpc_url,
        [
            RpcCall("eth_getBlockByNumber", [hex(state.head), False]),
            RpcCall("eth_maxPriorityFeePerGas", []),
        ],
    )
    assert state.key == chain.key and state.chain_id == chain.chain_id
    assert state.head_time == int(header["timestamp"], 16)
    assert state.base_fee_wei == int(header["baseFeePerGas"], 16)
    assert state.priority_fee_wei == int(tip, 16)
    assert state.gas_price_wei == state.base_fee_wei + state.priority_fee_wei
    assert state.confirmations == chain.confirmations
    # curves and the chain state are written together, block by block
    state = alpha.chain_state()
    for market in alpha.markets():
        curve = alpha.liquidity(market.id)
        assert curve is not None
        assert curve.sequence == state.head
        assert curve.ts_event == state.head_time * 1_000_000_000


async def test_configured_priority_fee_is_used_instead_of_the_node(
    devnet_snapshot: DevnetManifest,
) -> None:
    connector = _connector(devnet_snapshot, priority_fee_wei=7)
    await connector.start()
    try:
        await _healthy(connector)
        assert connector.chain_state().priority_fee_wei == 7
    finally:
        await connector.stop()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("fee", "charges 30 bps, configured 31"),
        ("chain_id", "configured as 1"),
        ("tokens", "not the configured"),
    ],
)
async def test_start_refuses_a_pool_that_contradicts_its_config(
    devnet_snapshot: DevnetManifest, change: str, message: str
) -> None:
    config = configs_from_manifest(devnet_snapshot)[0]["config"]
    pools = [dict(p) for p in config["pools"]]
    changes: dict[str, Any] = {}
    if change == "fee":
        pools[0]["fee_bps"] = 31
    elif change == "chain_id":
        changes["chain_id"] = 1
    else:
        pools[0]["base_token"], pools[1]["base_token"] = (
            pools[1]["base_token"],
            pools[0]["base_token"],
        )
    connector = _connector(devnet_snapshot, pools=pools, **changes)
    with pytest.raises(ConfigError, match=message):
        await connector.start()
    assert connector.health().status is HealthStatus.STOPPED


async def test_execute_approves_once_and_pays_the_curve_exactly(
    alpha: EvmAmmConnector, devnet_snapshot: DevnetManifest
) -> None:
    chain = devnet_snapshot.chains[0]
    market = next(m for m in alpha.markets() if m.symbol == "WETH/USDC")
    address = alpha.executor_address
    assert address is not None

    async def nonce() -> int:
        (raw,) = await rpc_batch(
            chain.rpc_url, [RpcCall("eth_getTransactionCount", [address, "latest"])]
        )
        return int(raw, 16)

    async def allowance() -> int:
        usdc = chain.tokens["USDC"].address
        data = abi.call_data(abi.ALLOWANCE, address, market.address)
        (raw,) = await rpc_batch(
            chain.rpc_url, [RpcCall("eth_call", [{"to": usdc, "data": data}, "latest"])]
        )
        return abi.decode_uint(raw)

    for amount in (5_000 * 10**6, 10**6):
        fresh = await alpha.fetch_liquidity(market.id)
        expected = fresh.amount_out(amount, Side.BUY_BASE)
        needs_approval = await allowance() < amount
        before = await nonce()
        had = await alpha.balances()
        result = await alpha.execute(
            ExecutionRequest(
                market_id=market.id,
                side=Side.BUY_BASE,
                amount_in=amount,
                min_amount_out=expected,
                client_id="t",
            )
        )
        now = await alpha.balances()
        assert result.amount_out == expected
        assert now["WETH"] - had["WETH"] == expected
        assert had["USDC"] - now["USDC"] == amount == result.amount_in
        assert result.tx_hash is not None and result.gas_used
        assert await nonce() - before == (2 if needs_approval else 1)
    assert not needs_approval, "the first approval covers later swaps"


async def test_limit_price_tightens_the_minimum(
    alpha: EvmAmmConnector,
) -> None:
    market = next(m for m in alpha.markets() if m.symbol == "WETH/USDC")
    curve = alpha.liquidity(market.id)
    assert curve is not None
    had = await alpha.balances()
    with pytest.raises(SlippageExceededError):
        await alpha.execute(
            ExecutionRequest(
                market_id=market.id,
                side=Side.SELL_BASE,
                amount_in=10**18,
                min_amount_out=0,
                limit_price=Decimal(curve.mid_price() or 0) * 2,
                client_id="t",
            )
        )
    assert await alpha.balances() == had


async def test_an_on_chain_minimum_revert_is_a_slippage_error(
    alpha: EvmAmmConnector, devnet_snapshot: DevnetManifest
) -> None:
    market = next(m for m in alpha.markets() if m.symbol == "WETH/USDC")
    pool = market.address
    assert pool is not None
    resolver = devnet_snapshot.accounts.resolver
    w3 = await make_web3(devnet_snapshot.chains[0].rpc_url)
    try:
        sender = await TxSender.create(w3, resolver.local_account())
        weth = devnet_snapshot.chains[0].tokens["WETH"].address
        data = abi.call_data(abi.SWAP, weth, 10**18, 10**30, sender.address, 2**40)
        with pytest.raises(TransactionRevertedError) as raised:
            await sender.estimate_gas(w3.to_checksum_address(pool), data)
    finally:
        await close_web3(w3)
    ref = cast(PoolRef, SimpleNamespace(address=pool, market=market))
    translated = SwapExecutor._translate_revert(raised.value, ref, 10**30)
    assert isinstance(translated, SlippageExceededError)
    assert 0 < translated.details["amount_out"] < 10**30


def test_min_out_for_limit_rounds_down_in_base_units() -> None:
    pool = cast(PoolRef, SimpleNamespace(base_decimals=18, quote_decimals=6))
    sell = ExecutionRequest(
        market_id="m",
        side=Side.SELL_BASE,
        amount_in=10**18 + 1,
        min_amount_out=0,
        limit_price=Decimal("2999.5"),
        client_id="c",
    )
    # 1.000000000000000001 WETH at 2999.5 is 2999.500000000000002999 USDC: floor to 6 decimals
    assert min_out_for_limit(sell, pool) == 2_999_500_000
    buy = sell.model_copy(update={"side": Side.BUY_BASE, "amount_in": 3_000 * 10**6})
    assert min_out_for_limit(buy, pool) == 3_000 * 10**18 * 2 // 5999
    assert min_out_for_limit(sell.model_copy(update={"limit_price": None}), pool) == 0
