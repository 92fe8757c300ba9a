"""Deploy and seed the devnet contracts on one chain, fast.

Transactions go out in three phases; inside a phase they do not depend on each
other, so their gas is estimated in one JSON-RPC batch, they are signed locally
with consecutive nonces and submitted in one batch, and their receipts are
polled in batches:

1. HashedTimelock and one TestToken per asset;
2. the pools (addresses known in advance from the deployer's nonces), token
   mints for pool seeding, the resolver and the trader, and the deployer's
   approvals of the pools;
3. ``addLiquidity`` on every pool with exact reserves (see ``seeding``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from eth_utils.conversions import to_bytes
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from aggregator.chain.bindings import (
    CONSTANT_PRODUCT_POOL,
    HASHED_TIMELOCK,
    TEST_TOKEN,
    contract,
    contract_factory,
)
from aggregator.chain.rpc import (
    RpcCall,
    TxSender,
    Web3Client,
    close_web3,
    gas_with_margin,
    make_web3,
    rpc_batch,
    send_raw_batch,
    suggest_fees,
)
from aggregator.devnet.config import ChainConfig, DevnetConfig
from aggregator.devnet.manifest import (
    DevnetAccounts,
    PoolDeployment,
    TokenDeployment,
)
from aggregator.devnet.seeding import seed_reserves
from aggregator.errors import ChainError, DevnetError

__all__ = ["ChainContracts", "create_address", "deploy_chain", "set_native_balances"]

_RECEIPT_TIMEOUT_S = 30.0
_RECEIPT_POLL_S = 0.003


@dataclass(frozen=True)
class ChainContracts:
    """What :func:`deploy_chain` deployed on one chain."""

    htlc: ChecksumAddress
    deploy_block: int
    tokens: dict[str, TokenDeployment]
    pools: tuple[PoolDeployment, ...]


@dataclass(frozen=True)
class _PlannedTx:
    label: str
    to: ChecksumAddress | None
    data: HexStr


def create_address(sender: str, nonce: int) -> ChecksumAddress:
    """Address of the contract that ``sender`` creates with ``nonce`` (CREATE)."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + to_bytes(hexstr=HexStr(sender)) + encoded_nonce
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


async def _wait_receipts(
    url: str, hashes: Sequence[HexBytes], session: aiohttp.ClientSession
) -> list[dict[str, Any]]:
    receipts: list[dict[str, Any] | None] = [None] * len(hashes)
    deadline = time.monotonic() + _RECEIPT_TIMEOUT_S
    while True:
        pending = [i for i, r in enumerate(receipts) if r is None]
        if not pending:
            return [r for r in receipts if r is not None]
        calls = [RpcCall("eth_getTransactionReceipt", [hashes[i].to_0x_hex()]) for i in pending]
        for i, result in zip(pending, await rpc_batch(url, calls, session=session), strict=True):
            receipts[i] = result
        if all(r is not None for r in receipts):
            continue
        if time.monotonic() >= deadline:
            raise DevnetError("deployment transactions were not mined in time", url=url)
        await asyncio.sleep(_RECEIPT_POLL_S)


async def _run_phase(
    url: str, sender: TxSender, txs: Sequence[_PlannedTx], session: aiohttp.ClientSession
) -> list[dict[str, Any]]:
    """Estimate, sign, submit and confirm independent transactions; receipts in order."""
    estimate_calls = []
    for tx in txs:
        call: dict[str, Any] = {"from": sender.address, "data": tx.data}
        if tx.to is not None:
            call["to"] = tx.to
        estimate_calls.append(RpcCall("eth_estimateGas", [call]))
    try:
        estimates = await rpc_batch(url, estimate_calls, session=session)
    except ChainError as exc:
        label = txs[exc.details["index"]].label if "index" in exc.details else "?"
        raise DevnetError(f"{label} would fail: {exc.message}", url=url) from exc
    fees = await suggest_fees(sender.w3)
    signed = [
        sender.sign(tx.to, tx.data, gas=gas_with_margin(int(gas, 16)), fees=fees)
        for tx, gas in zip(txs, estimates, strict=True)
    ]
    hashes = await send_raw_batch(url, [s.raw for s in signed], session=session)
    receipts = await _wait_receipts(url, hashes, session)
    for tx, receipt in zip(txs, receipts, strict=True):
        if int(receipt["status"], 16) != 1:
            raise DevnetError(f"{tx.label} reverted", url=url, tx_hash=receipt["transactionHash"])
    return receipts


async def deploy_chain(
    chain: ChainConfig, rpc_url: str, config: DevnetConfig, accounts: DevnetAccounts
) -> ChainContracts:
    """Deploy the HTLC, the tokens and the seeded pools; mint the resolver's and trader's tokens."""
    w3 = await make_web3(rpc_url)
    try:
        async with aiohttp.ClientSession() as session:
            sender = await TxSender.create(w3, accounts.deployer.local_account())
            return await _deploy(w3, chain, rpc_url, config, accounts, sender, session)
    finally:
        await close_web3(w3)


async def _deploy(
    w3: Web3Client,
    chain: ChainConfig,
    url: str,
    config: DevnetConfig,
    accounts: DevnetAccounts,
    sender: TxSender,
    session: aiohttp.ClientSession,
) -> ChainContracts:
    # Phase 1: the HTLC and the tokens.
    htlc_data = contract_factory(w3, HASHED_TIMELOCK).constructor().data_in_transaction
    phase1 = [_PlannedTx("deploy HashedTimelock", None, htlc_data)]
    for asset in config.assets:
        data = (
            contract_factory(w3, TEST_TOKEN)
            .constructor(asset.name, asset.symbol, asset.decimals)
            .data_in_transaction
        )
        phase1.append(_PlannedTx(f"deploy {asset.symbol}", None, data))
    receipts = await _run_phase(url, sender, phase1, session)
    htlc = to_checksum_address(receipts[0]["contractAddress"])
    deploy_block = int(receipts[0]["blockNumber"], 16)
    token_addresses = {
        asset.symbol: to_checksum_address(r["contractAddress"])
        for asset, r in zip(config.assets, receipts[1:], strict=True)
    }
    tokens = {a.symbol: contract(w3, TEST_TOKEN, token_addresses[a.symbol]) for a in config.assets}

    # Phase 2: pools at predicted addresses, mints, approvals.
    phase2: list[_PlannedTx] = []
    pools: list[PoolDeployment] = []
    seed_totals = dict.fromkeys(token_addresses, 0)
    for offset, pool in enumerate(config.pools):
        base, quote = config.asset(pool.base), config.asset(pool.quote)
        reserves = seed_reserves(base, quote, chain.price_offset_bps, config.pool_depth_usd)
        address = create_address(sender.address, sender.next_nonce + offset)
        pools.append(
            PoolDeployment(
                address=address,
                token0=token_addresses[base.symbol],
                token1=token_addresses[quote.symbol],
                symbol0=base.symbol,
                symbol1=quote.symbol,
                fee_bps=config.pool_fee_bps,
                seed_reserve0=reserves.base,
                seed_reserve1=reserves.quote,
            )
        )
        seed_totals[base.symbol] += reserves.base
        seed_totals[quote.symbol] += reserves.quote
        data = (
            contract_factory(w3, CONSTANT_PRODUCT_POOL)
            .constructor(
                token_addresses[base.symbol], token_addresses[quote.symbol], config.pool_fee_bps
            )
            .data_in_transaction
        )
        phase2.append(_PlannedTx(f"deploy pool {base.symbol}/{quote.symbol}", None, data))
    mints: list[tuple[str, ChecksumAddress, int]] = [
        (symbol, accounts.deployer.address, amount) for symbol, amount in seed_totals.items()
    ]
    for role in ("resolver", "trader"):
        funding = getattr(config.funding, role)
        address = getattr(accounts, role).address
        for symbol, whole in funding.tokens.items():
            mints.append((symbol, address, whole * 10 ** config.asset(symbol).decimals))
    for symbol, to, amount in mints:
        if amount > 0:
            data = tokens[symbol].encode_abi("mint", args=[to, amount])
            phase2.append(_PlannedTx(f"mint {symbol} to {to}", token_addresses[symbol], data))
    for p in pools:
        for symbol, amount in ((p.symbol0, p.seed_reserve0), (p.symbol1, p.seed_reserve1)):
            data = tokens[symbol].encode_abi("approve", args=[p.address, amount])
            phase2.append(
                _PlannedTx(f"approve {symbol} to {p.pair}", token_addresses[symbol], data)
            )
    receipts = await _run_phase(url, sender, phase2, session)
    for p, r in zip(pools, receipts, strict=False):
        if to_checksum_address(r["contractAddress"]) != p.address:
            raise DevnetError(f"pool {p.pair} deployed at an unexpected address", url=url)

    # Phase 3: seed the pools.
    phase3 = [
        _PlannedTx(
            f"seed pool {p.pair}",
            p.address,
            contract(w3, CONSTANT_PRODUCT_POOL, p.address).encode_abi(
                "addLiquidity", args=[p.seed_reserve0, p.seed_reserve1, sender.address]
            ),
        )
        for p in pools
    ]
    await _run_phase(url, sender, phase3, session)

    return ChainContracts(
        htlc=htlc,
        deploy_block=deploy_block,
        tokens={
            a.symbol: TokenDeployment(address=token_addresses[a.symbol], decimals=a.decimals)
            for a in config.assets
        },
        pools=tuple(pools),
    )


async def set_native_balances(
    rpc_url: str, balances: Sequence[tuple[ChecksumAddress, int]]
) -> None:
    """Set native coin balances (wei) with ``anvil_setBalance``, in one batch."""
    calls = [RpcCall("anvil_setBalance", [address, hex(wei)]) for address, wei in balances]
    await rpc_batch(rpc_url, calls)
