"""AmmCurve.amount_out equals a deployed pool's answer to the unit.

For random reserves, fees, amounts and directions, a fresh pool is deployed
on a devnet chain; the connector reads it (``fetch_liquidity``) and the curve's
integer output is compared with the pool's ``getAmountOut`` view and with what
an actual swap through the connector delivers (its ``Swap`` event and the
account's balance change).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.chain.rpc import RpcCall, rpc_batch
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import SlippageExceededError
from aggregator.models import Asset, AssetRegistry, Side
from aggregator.plugins import ConnectorContext, ExecutionRequest
from connectors.evm_amm import EvmAmmConfig, EvmAmmConnector, abi
from tests.connectors.evm_amm.lab import PoolLab

pytestmark = pytest.mark.devnet

ASSETS = AssetRegistry([Asset(symbol="TKA", decimals=18), Asset(symbol="TKB", decimals=6)])


@dataclass
class Bench:
    runner: asyncio.Runner
    lab: PoolLab
    executor: PoolLab
    url: str
    chain_key: str
    chain_id: int
    tokens: dict[str, str]


@pytest.fixture
def bench(devnet_snapshot: DevnetManifest) -> Iterator[Bench]:
    chain = devnet_snapshot.chains[0]
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        lab = runner.run(PoolLab(chain.rpc_url).open())
        executor = runner.run(PoolLab(chain.rpc_url).open())
        holders = [lab.address, executor.address]
        tokens = {
            "TKA": runner.run(lab.deploy_token("TKA", 18, holders)),
            "TKB": runner.run(lab.deploy_token("TKB", 6, holders)),
        }
        try:
            yield Bench(runner, lab, executor, chain.rpc_url, chain.key, chain.chain_id, tokens)
        finally:
            runner.run(lab.close())
            runner.run(executor.close())


async def _balance(url: str, token: str, owner: str) -> int:
    (raw,) = await rpc_batch(
        url,
        [
            RpcCall(
                "eth_call", [{"to": token, "data": abi.call_data(abi.BALANCE_OF, owner)}, "latest"]
            )
        ],
    )
    return abi.decode_uint(raw)


async def _check(
    b: Bench, base: str, reserve_base: int, reserve_quote: int, fee: int, amount: int, side: Side
) -> None:
    quote = "TKB" if base == "TKA" else "TKA"
    base_token, quote_token = b.tokens[base], b.tokens[quote]
    # the pool's token0 is whichever the draw made the base, so both orientations occur
    pool = await b.lab.deploy_pool(base_token, quote_token, fee, reserve_base, reserve_quote)
    config = EvmAmmConfig(
        chain=b.chain_key,
        chain_id=b.chain_id,
        rpc_url=b.url,
        pools=[
            {
                "address": pool,
                "base": base,
                "quote": quote,
                "fee_bps": fee,
                "base_token": base_token,
                "quote_token": quote_token,
            }
        ],
        executor_private_key=b.executor.account.key.hex(),
    )
    connector = EvmAmmConnector(
        config, ConnectorContext(registry=ASSETS, instance_name="lab", extras={})
    )
    await connector.start()
    try:
        market = connector.markets()[0]
        curve = await connector.fetch_liquidity(market.id)
        assert (curve.reserve_base, curve.reserve_quote) == (reserve_base, reserve_quote)
        expected = curve.amount_out(amount, side)

        token_in = base_token if side is Side.SELL_BASE else quote_token
        token_out = quote_token if side is Side.SELL_BASE else base_token
        (raw,) = await rpc_batch(
            b.url,
            [
                RpcCall(
                    "eth_call",
                    [
                        {"to": pool, "data": abi.call_data(abi.GET_AMOUNT_OUT, amount, token_in)},
                        "latest",
                    ],
                )
            ],
        )
        assert abi.decode_uint(raw) == expected, "getAmountOut differs from the curve"

        before = await _balance(b.url, token_out, b.executor.address)
        request = ExecutionRequest(
            market_id=market.id,
            side=side,
            amount_in=amount,
            min_amount_out=expected,
            client_id="curve-vs-pool",
        )
        if expected == 0:
            with pytest.raises(SlippageExceededError):
                await connector.execute(request)
            return
        result = await connector.execute(request)
        after = await _balance(b.url, token_out, b.executor.address)
        assert result.amount_out == expected, "the swap's Swap event differs from the curve"
        assert after - before == expected, "the received balance differs from the curve"
        assert result.amount_in == amount
    finally:
        await connector.stop()


reserves = st.integers(min_value=10**3, max_value=10**30)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.sampled_from(["TKA", "TKB"]),
    reserve_base=reserves,
    reserve_quote=reserves,
    fee=st.integers(min_value=0, max_value=1_000),
    amount=st.one_of(st.integers(min_value=1, max_value=10**6), reserves),
    side=st.sampled_from(list(Side)),
)
def test_curve_amount_out_equals_pool_view_and_swap(
    bench: Bench,
    base: str,
    reserve_base: int,
    reserve_quote: int,
    fee: int,
    amount: int,
    side: Side,
) -> None:
    bench.runner.run(_check(bench, base, reserve_base, reserve_quote, fee, amount, side))
