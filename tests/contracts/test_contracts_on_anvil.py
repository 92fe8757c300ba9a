"""The committed artifacts deploy and behave as the bindings promise on a real anvil chain.

These checks pin what off-chain code relies on: the swap id computed in Python equals
the contract's, the events carry the terms, and the pool's output equals the integer
formula.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.logs import DISCARD
from web3.types import TxParams, Wei

from aggregator.chain.bindings import (
    CONSTANT_PRODUCT_POOL,
    HASHED_TIMELOCK,
    NO_BOOL_TOKEN,
    TEST_TOKEN,
    contract,
    contract_factory,
)
from tests.fixtures.processes import free_port

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
NATIVE = "0x" + "00" * 20

LOCKED, CLAIMED, REFUNDED = 1, 2, 3


@pytest.fixture(scope="module")
def anvil_url() -> Iterator[str]:
    binary = str(ANVIL) if ANVIL.exists() else shutil.which("anvil")
    assert binary is not None, "anvil is not installed; run npm install"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            req = urllib.request.Request(
                url,
                data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
async def w3(anvil_url: str) -> AsyncIterator[AsyncWeb3[Any]]:
    web3 = AsyncWeb3(AsyncHTTPProvider(anvil_url))
    snapshot = await web3.provider.make_request("evm_snapshot", [])
    yield web3
    await web3.provider.make_request("evm_revert", [snapshot["result"]])
    await web3.provider.disconnect()


async def _send(w3: AsyncWeb3[Any], tx: TxParams) -> Any:
    tx_hash = await w3.eth.send_transaction(tx)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
    assert receipt["status"] == 1
    return receipt


async def _deploy(w3: AsyncWeb3[Any], name: str, sender: str, *args: Any) -> AsyncContract:
    factory = contract_factory(w3, name)
    tx_hash = await factory.constructor(*args).transact({"from": sender})
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return contract(w3, name, address)


def _python_swap_id(
    chain_id: int,
    htlc: str,
    sender: str,
    recipient: str,
    token: str,
    amount: int,
    hashlock: bytes,
    timelock: int,
) -> bytes:
    return keccak(
        encode(
            [
                "uint256",
                "address",
                "address",
                "address",
                "address",
                "uint256",
                "bytes32",
                "uint256",
            ],
            [chain_id, htlc, sender, recipient, token, amount, hashlock, timelock],
        )
    )


async def _accounts(w3: AsyncWeb3[Any]) -> list[ChecksumAddress]:
    return list(await w3.eth.accounts)


async def _head_time(w3: AsyncWeb3[Any]) -> int:
    block = await w3.eth.get_block("latest")
    return int(block["timestamp"])


async def test_erc20_lock_then_third_party_claim_pays_recipient(w3: AsyncWeb3[Any]) -> None:
    deployer, trader, resolver, watcher = (await _accounts(w3))[:4]
    token = await _deploy(w3, TEST_TOKEN, deployer, "USD Coin", "USDC", 6)
    htlc = await _deploy(w3, HASHED_TIMELOCK, deployer)
    amount = 1_234_567
    await _send(
        w3, await token.functions.mint(trader, amount).build_transaction({"from": deployer})
    )
    await _send(
        w3, await token.functions.approve(htlc.address, amount).build_transaction({"from": trader})
    )
    preimage = bytes(range(32))
    hashlock = hashlib.sha256(preimage).digest()
    timelock = await _head_time(w3) + 3600
    chain_id = await w3.eth.chain_id

    receipt = await _send(
        w3,
        await htlc.functions.lock(
            resolver, token.address, amount, hashlock, timelock
        ).build_transaction({"from": trader}),
    )
    expected_id = _python_swap_id(
        chain_id, htlc.address, trader, resolver, token.address, amount, hashlock, timelock
    )
    (event,) = htlc.events.Locked().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["id"] == expected_id
    assert event["args"]["hashlock"] == hashlock
    assert event["args"]["sender"] == trader
    assert event["args"]["recipient"] == resolver
    assert event["args"]["token"] == token.address
    assert event["args"]["amount"] == amount
    assert event["args"]["timelock"] == timelock
    on_chain_id = await htlc.functions.swapId(
        trader, resolver, token.address, amount, hashlock, timelock
    ).call()
    assert on_chain_id == expected_id
    assert await htlc.functions.stateOf(expected_id).call() == LOCKED
    assert await token.functions.balanceOf(htlc.address).call() == amount

    receipt = await _send(
        w3,
        await htlc.functions.claim(
            trader, resolver, token.address, amount, hashlock, timelock, preimage
        ).build_transaction({"from": watcher}),
    )
    (claimed,) = htlc.events.Claimed().process_receipt(receipt, errors=DISCARD)
    assert claimed["args"]["preimage"] == preimage
    assert await htlc.functions.stateOf(expected_id).call() == CLAIMED
    assert await token.functions.balanceOf(resolver).call() == amount
    assert await token.functions.balanceOf(htlc.address).call() == 0


async def test_native_lock_refunds_sender_after_timelock(w3: AsyncWeb3[Any]) -> None:
    deployer, trader, resolver, watcher = (await _accounts(w3))[:4]
    htlc = await _deploy(w3, HASHED_TIMELOCK, deployer)
    amount = 10**18 + 7
    hashlock = hashlib.sha256(b"\x01" * 32).digest()
    timelock = await _head_time(w3) + 600
    params: TxParams = {"from": trader, "value": Wei(amount)}
    lock = htlc.functions.lock(resolver, NATIVE, amount, hashlock, timelock)
    await _send(w3, await lock.build_transaction(params))
    assert await w3.eth.get_balance(htlc.address) == amount
    swap_id = _python_swap_id(
        await w3.eth.chain_id, htlc.address, trader, resolver, NATIVE, amount, hashlock, timelock
    )
    await w3.provider.make_request("evm_mine", [timelock])
    assert await _head_time(w3) == timelock
    before = await w3.eth.get_balance(trader)
    receipt = await _send(
        w3,
        await htlc.functions.refund(
            trader, resolver, NATIVE, amount, hashlock, timelock
        ).build_transaction({"from": watcher}),
    )
    (refunded,) = htlc.events.Refunded().process_receipt(receipt, errors=DISCARD)
    assert refunded["args"]["id"] == swap_id
    assert await w3.eth.get_balance(trader) == before + amount
    assert await w3.eth.get_balance(htlc.address) == 0
    assert await htlc.functions.stateOf(swap_id).call() == REFUNDED


async def test_pool_swap_pays_the_integer_formula_with_a_no_bool_token(
    w3: AsyncWeb3[Any],
) -> None:
    deployer, trader = (await _accounts(w3))[:2]
    usdc = await _deploy(w3, NO_BOOL_TOKEN, deployer, "Tether", "USDT", 6)
    weth = await _deploy(w3, TEST_TOKEN, deployer, "Wrapped Ether", "WETH", 18)
    fee_bps = 30
    pool = await _deploy(w3, CONSTANT_PRODUCT_POOL, deployer, usdc.address, weth.address, fee_bps)
    reserve0, reserve1 = 3_000_000 * 10**6, 1_000 * 10**18
    for tok, amt in ((usdc, reserve0), (weth, reserve1)):
        await _send(
            w3, await tok.functions.mint(deployer, amt).build_transaction({"from": deployer})
        )
        await _send(
            w3, await tok.functions.approve(pool.address, amt).build_transaction({"from": deployer})
        )
    await _send(
        w3,
        await pool.functions.addLiquidity(reserve0, reserve1, deployer).build_transaction(
            {"from": deployer}
        ),
    )
    assert await pool.functions.getReserves().call() == [reserve0, reserve1]

    amount_in = 12_345 * 10**6
    with_fee = amount_in * (10_000 - fee_bps)
    expected_out = with_fee * reserve1 // (reserve0 * 10_000 + with_fee)
    assert await pool.functions.getAmountOut(amount_in, usdc.address).call() == expected_out

    await _send(
        w3, await usdc.functions.mint(trader, amount_in).build_transaction({"from": deployer})
    )
    await _send(
        w3,
        await usdc.functions.approve(pool.address, amount_in).build_transaction({"from": trader}),
    )
    deadline = await _head_time(w3) + 60
    receipt = await _send(
        w3,
        await pool.functions.swap(
            usdc.address, amount_in, expected_out, trader, deadline
        ).build_transaction({"from": trader}),
    )
    (swap,) = pool.events.Swap().process_receipt(receipt, errors=DISCARD)
    assert swap["args"]["amountOut"] == expected_out
    (sync,) = pool.events.Sync().process_receipt(receipt, errors=DISCARD)
    assert (sync["args"]["reserve0"], sync["args"]["reserve1"]) == (
        reserve0 + amount_in,
        reserve1 - expected_out,
    )
    assert await weth.functions.balanceOf(trader).call() == expected_out
    assert await usdc.functions.balanceOf(trader).call() == 0
