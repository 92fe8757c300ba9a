"""What ``up`` deploys, checked on a fresh devnet against the config and the chain itself."""

from __future__ import annotations

import json
from fractions import Fraction
from urllib.parse import urlparse

import pytest

from aggregator.chain.bindings import CONSTANT_PRODUCT_POOL, TEST_TOKEN, contract
from aggregator.chain.rpc import close_web3, make_web3
from aggregator.devnet import DevnetConfig, DevnetManifest
from aggregator.devnet.deploy import create_address
from aggregator.devnet.seeding import pool_price

pytestmark = pytest.mark.devnet


async def test_each_chain_runs_with_its_configured_chain_id_and_settings(
    private_devnet: DevnetManifest, devnet_config: DevnetConfig
) -> None:
    assert [c.key for c in private_devnet.chains] == [c.key for c in devnet_config.chains]
    assert len({c.rpc_url for c in private_devnet.chains}) == len(devnet_config.chains)
    for deployment in private_devnet.chains:
        config = devnet_config.chain(deployment.key)
        w3 = await make_web3(deployment.rpc_url)
        try:
            assert await w3.eth.chain_id == config.chain_id == deployment.chain_id
        finally:
            await close_web3(w3)
        assert (deployment.block_time, deployment.confirmations) == (
            config.block_time,
            config.confirmations,
        )
        rpc, ws = urlparse(deployment.rpc_url), urlparse(deployment.ws_url)
        assert rpc.hostname == ws.hostname == "127.0.0.1"
        assert rpc.port == ws.port


async def test_contracts_exist_where_the_manifest_says_with_configured_tokens(
    private_devnet: DevnetManifest, devnet_config: DevnetConfig
) -> None:
    deployer = private_devnet.accounts.deployer.address
    for deployment in private_devnet.chains:
        w3 = await make_web3(deployment.rpc_url)
        try:
            assert deployment.htlc == create_address(deployer, 0)
            receipt_block = await w3.eth.get_block(deployment.deploy_block)
            assert receipt_block["number"] == deployment.deploy_block
            addresses = [deployment.htlc]
            addresses += [t.address for t in deployment.tokens.values()]
            addresses += [p.address for p in deployment.pools]
            for address in addresses:
                assert len(await w3.eth.get_code(address)) > 0, address
            assert set(deployment.tokens) == {a.symbol for a in devnet_config.assets}
            for asset in devnet_config.assets:
                token = contract(w3, TEST_TOKEN, deployment.tokens[asset.symbol].address)
                assert await token.functions.symbol().call() == asset.symbol
                assert await token.functions.name().call() == asset.name
                assert await token.functions.decimals().call() == asset.decimals
        finally:
            await close_web3(w3)


async def test_pools_are_priced_at_reference_times_chain_offset_exactly(
    private_devnet: DevnetManifest, devnet_config: DevnetConfig
) -> None:
    prices: dict[str, list[Fraction]] = {}
    for deployment in private_devnet.chains:
        chain_config = devnet_config.chain(deployment.key)
        w3 = await make_web3(deployment.rpc_url)
        try:
            assert len(deployment.pools) == len(devnet_config.pools)
            for pool_config in devnet_config.pools:
                pool = deployment.pool(pool_config.base, pool_config.quote)
                base, quote = devnet_config.asset(pool.symbol0), devnet_config.asset(pool.symbol1)
                on_chain = contract(w3, CONSTANT_PRODUCT_POOL, pool.address)
                reserve0, reserve1 = await on_chain.functions.getReserves().call()
                assert (reserve0, reserve1) == (pool.seed_reserve0, pool.seed_reserve1)
                assert await on_chain.functions.token0().call() == pool.token0
                assert await on_chain.functions.token1().call() == pool.token1
                assert pool.token0 == deployment.tokens[pool.symbol0].address
                assert await on_chain.functions.feeBps().call() == devnet_config.pool_fee_bps
                price = Fraction(reserve1, 10**quote.decimals) / Fraction(
                    reserve0, 10**base.decimals
                )
                assert price == pool_price(base, quote, chain_config.price_offset_bps)
                prices.setdefault(pool.pair, []).append(price)
                quote_usd = Fraction(reserve1, 10**quote.decimals) * Fraction(
                    quote.reference_price_usd
                )
                assert devnet_config.pool_depth_usd * Fraction(999, 1000) <= quote_usd
                assert quote_usd <= devnet_config.pool_depth_usd
        finally:
            await close_web3(w3)
    # Distinct offsets give distinct prices for the same pair across chains.
    offsets = [c.price_offset_bps for c in devnet_config.chains]
    for pair_prices in prices.values():
        assert sorted(pair_prices) == [p for _, p in sorted(zip(offsets, pair_prices, strict=True))]
        assert len(set(pair_prices)) == len(set(offsets))


async def test_resolver_and_trader_hold_exactly_their_funding(
    private_devnet: DevnetManifest, devnet_config: DevnetConfig
) -> None:
    for deployment in private_devnet.chains:
        w3 = await make_web3(deployment.rpc_url)
        try:
            for role in ("resolver", "trader"):
                funding = getattr(devnet_config.funding, role)
                address = getattr(private_devnet.accounts, role).address
                assert await w3.eth.get_balance(address) == funding.native * 10**18
                for symbol, whole in funding.tokens.items():
                    token = deployment.tokens[symbol]
                    erc20 = contract(w3, TEST_TOKEN, token.address)
                    balance = await erc20.functions.balanceOf(address).call()
                    assert balance == whole * 10**token.decimals
        finally:
            await close_web3(w3)


def test_manifest_round_trips_through_json_and_its_keys_sign_for_its_addresses(
    private_devnet: DevnetManifest,
) -> None:
    accounts = private_devnet.accounts
    roles = [accounts.deployer, accounts.resolver, accounts.trader]
    assert len({a.address for a in roles}) == 3
    for account in roles:
        assert account.local_account().address == account.address
    dumped = json.loads(private_devnet.model_dump_json())
    assert dumped["accounts"]["trader"]["private_key"] == (
        accounts.trader.private_key.get_secret_value()
    )
    assert DevnetManifest.model_validate(dumped) == private_devnet
    assert "**" not in repr(dumped)
