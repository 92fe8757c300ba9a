"""Acceptance: HTLC swaps on the devnet through web3.py, every balance checked to the unit."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from eth_typing import ChecksumAddress
from web3.logs import DISCARD
from web3.types import TxReceipt

from aggregator.chain.bindings import HASHED_TIMELOCK, TEST_TOKEN, contract
from aggregator.chain.rpc import TxSender, Web3Client, chain_head, close_web3, make_web3
from aggregator.devnet import DevnetManifest
from aggregator.devnet.control import increase_time
from aggregator.errors import TransactionRevertedError

pytestmark = pytest.mark.devnet

NATIVE = "0x0000000000000000000000000000000000000000"
LOCKED, CLAIMED, REFUNDED = 1, 2, 3


def gas_cost(receipt: TxReceipt) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


@dataclass
class Chain:
    w3: Web3Client
    trader: TxSender
    resolver: TxSender


async def open_chain(manifest: DevnetManifest, key: str) -> Chain:
    w3 = await make_web3(manifest.chain(key).rpc_url)
    return Chain(
        w3=w3,
        trader=await TxSender.create(w3, manifest.accounts.trader.local_account()),
        resolver=await TxSender.create(w3, manifest.accounts.resolver.local_account()),
    )


@pytest.fixture
async def alpha(devnet_snapshot: DevnetManifest) -> AsyncIterator[Chain]:
    chain = await open_chain(devnet_snapshot, "alpha")
    yield chain
    await close_web3(chain.w3)


@pytest.fixture
async def beta(devnet_snapshot: DevnetManifest) -> AsyncIterator[Chain]:
    chain = await open_chain(devnet_snapshot, "beta")
    yield chain
    await close_web3(chain.w3)


async def test_erc20_lock_then_claim_moves_every_unit(devnet: DevnetManifest, alpha: Chain) -> None:
    deployment = devnet.chain("alpha")
    w3, trader, resolver = alpha.w3, alpha.trader, alpha.resolver
    htlc = contract(w3, HASHED_TIMELOCK, deployment.htlc)
    usdc = contract(w3, TEST_TOKEN, deployment.tokens["USDC"].address)
    amount = 1_234_567_891  # 1234.567891 USDC
    preimage = os.urandom(32)
    hashlock = hashlib.sha256(preimage).digest()
    timelock = (await chain_head(w3)).timestamp + 3600

    async def token_balances() -> dict[str, int]:
        return {
            "trader": await usdc.functions.balanceOf(trader.address).call(),
            "resolver": await usdc.functions.balanceOf(resolver.address).call(),
            "htlc": await usdc.functions.balanceOf(deployment.htlc).call(),
            "supply": await usdc.functions.totalSupply().call(),
        }

    async def native(address: ChecksumAddress) -> int:
        return int(await w3.eth.get_balance(address))

    start = await token_balances()
    assert start["trader"] >= amount
    trader_eth, resolver_eth = await native(trader.address), await native(resolver.address)

    approve = await trader.transact(
        usdc.address, usdc.encode_abi("approve", [htlc.address, amount])
    )
    lock = await trader.transact(
        htlc.address,
        htlc.encode_abi("lock", [resolver.address, usdc.address, amount, hashlock, timelock]),
    )
    locked = htlc.events.Locked().process_receipt(lock, errors=DISCARD)
    assert len(locked) == 1
    swap_id = locked[0]["args"]["id"]
    assert locked[0]["args"]["sender"] == trader.address
    assert locked[0]["args"]["recipient"] == resolver.address
    assert locked[0]["args"]["amount"] == amount
    assert locked[0]["args"]["timelock"] == timelock
    assert (
        swap_id
        == await htlc.functions.swapId(
            trader.address, resolver.address, usdc.address, amount, hashlock, timelock
        ).call()
    )
    assert await htlc.functions.stateOf(swap_id).call() == LOCKED

    after_lock = await token_balances()
    assert after_lock == {
        "trader": start["trader"] - amount,
        "resolver": start["resolver"],
        "htlc": start["htlc"] + amount,
        "supply": start["supply"],
    }
    assert await native(trader.address) == trader_eth - gas_cost(approve) - gas_cost(lock)

    claim = await resolver.transact(
        htlc.address,
        htlc.encode_abi(
            "claim",
            [trader.address, resolver.address, usdc.address, amount, hashlock, timelock, preimage],
        ),
    )
    claimed = htlc.events.Claimed().process_receipt(claim, errors=DISCARD)
    assert [(e["args"]["id"], e["args"]["preimage"]) for e in claimed] == [(swap_id, preimage)]
    assert await htlc.functions.stateOf(swap_id).call() == CLAIMED

    assert await token_balances() == {
        "trader": start["trader"] - amount,
        "resolver": start["resolver"] + amount,
        "htlc": start["htlc"],
        "supply": start["supply"],
    }
    assert await native(resolver.address) == resolver_eth - gas_cost(claim)
    assert await native(trader.address) == trader_eth - gas_cost(approve) - gas_cost(lock)


async def test_native_lock_then_refund_after_timelock_returns_everything_but_gas(
    devnet: DevnetManifest, beta: Chain
) -> None:
    deployment = devnet.chain("beta")
    w3, trader, resolver = beta.w3, beta.trader, beta.resolver
    htlc = contract(w3, HASHED_TIMELOCK, deployment.htlc)
    amount = 2 * 10**18 + 123_456_789
    hashlock = hashlib.sha256(os.urandom(32)).digest()
    timelock = (await chain_head(w3)).timestamp + 600
    terms = [trader.address, resolver.address, NATIVE, amount, hashlock, timelock]

    async def balances() -> dict[str, int]:
        return {
            "trader": int(await w3.eth.get_balance(trader.address)),
            "resolver": int(await w3.eth.get_balance(resolver.address)),
            "htlc": int(await w3.eth.get_balance(htlc.address)),
        }

    start = await balances()
    assert start["trader"] > amount

    lock = await trader.transact(
        htlc.address,
        htlc.encode_abi("lock", [resolver.address, NATIVE, amount, hashlock, timelock]),
        value=amount,
    )
    (locked,) = htlc.events.Locked().process_receipt(lock, errors=DISCARD)
    swap_id = locked["args"]["id"]
    assert locked["args"]["token"] == NATIVE
    assert await balances() == {
        "trader": start["trader"] - amount - gas_cost(lock),
        "resolver": start["resolver"],
        "htlc": start["htlc"] + amount,
    }

    # Before the timelock a refund reverts (refused at estimation, nothing spent).
    with pytest.raises(TransactionRevertedError):
        await trader.estimate_gas(htlc.address, htlc.encode_abi("refund", terms))

    await increase_time(deployment.rpc_url, 601)
    assert (await chain_head(w3)).timestamp >= timelock

    refund = await trader.transact(htlc.address, htlc.encode_abi("refund", terms))
    refunded = htlc.events.Refunded().process_receipt(refund, errors=DISCARD)
    assert [e["args"]["id"] for e in refunded] == [swap_id]
    assert await htlc.functions.stateOf(swap_id).call() == REFUNDED
    assert await balances() == {
        "trader": start["trader"] - gas_cost(lock) - gas_cost(refund),
        "resolver": start["resolver"],
        "htlc": start["htlc"],
    }


async def test_chains_keep_mining_while_idle(devnet: DevnetManifest) -> None:
    w3 = await make_web3(devnet.chains[0].rpc_url)
    try:
        first = await chain_head(w3)
        head = first
        for _ in range(100):  # a few block times at most
            if head.number > first.number:
                break
            await asyncio.sleep(0.05)
            head = await chain_head(w3)
        assert head.number > first.number
        assert head.timestamp >= first.timestamp
    finally:
        await close_web3(w3)
