"""One nonce authority for the resolver: settlement and AMM trades from one account.

The coordinator's transactions and the trades (and approvals) the resolver's AMM
connectors send all take their nonces from the settlement's Redis-backed
:class:`NonceManager`. Run at the same time from the same account, every
transaction either issued is on record, mined once, and the account's nonce
moves by exactly their number; a transaction that never reached the node, or
that the node refused, leaves no gap behind it.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from aggregator.chain.nonces import (
    NONCE_SOURCE,
    LocalNonces,
    SendResult,
    nonce_source_from,
)
from aggregator.chain.rpc import SignedTx
from aggregator.client.trader import TraderOutcome
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import ChainError, RpcUnavailableError
from aggregator.models.market import Side
from aggregator.plugins.protocol import Connector, ExecutionRequest, ExecutionResult
from aggregator.settlement.chain import AccountSender, ChainAccount, as_chain_tx
from aggregator.settlement.keys import Keys
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.store import TxRecord
from aggregator.settlement.swap import SwapPhase, TxKind
from tests.settlement.harness import Stack, settlement_stack
from tests.settlement.quotes import fixed_rate_quote
from tests.settlement.routing import amm_connectors

pytestmark = [pytest.mark.devnet]

_APPROVE = keccak(text="approve(address,uint256)")[:4]
_COLLISIONS = ("used by another transaction", "filling nonce gap", "sending for", "refused")


def _quote(stack: Stack, i: int, src: str, dst: str) -> Any:
    return fixed_rate_quote(
        amount_in=100_000_000 + i,
        rate=Decimal("0.0003"),
        sell=("USDC", src),
        buy=("WETH", dst),
        timelocks=stack.plan(src, dst),
    )


async def _records(stack: Stack, chain_id: int) -> list[TxRecord]:
    """Every transaction on record for the resolver on the chain, by nonce."""
    keys = Keys(stack.config.key_prefix)
    found = [k async for k in stack.redis.scan_iter(match=keys.tx(chain_id, "*"))]
    raws = await stack.redis.mget(found) if found else []
    resolver = stack.manifest.accounts.resolver.address.lower()
    records = [TxRecord.model_validate_json(r) for r in raws if r is not None]
    return sorted((r for r in records if r.sender.lower() == resolver), key=lambda r: r.nonce)


async def _mined_from(stack: Stack, chain: str, address: str, first: int) -> dict[str, int]:
    """Hash -> nonce of every transaction from ``address`` in blocks ``first`` to the head."""
    client = stack.clients[chain]
    head = (await client.head()).number
    out: dict[str, int] = {}
    for number in range(first, head + 1):
        block = await client.call("eth_getBlockByNumber", hex(number), True)
        for tx in block["transactions"]:
            if str(tx["from"]).lower() == address.lower():
                out[str(tx["hash"]).lower()] = int(tx["nonce"], 16)
    return out


async def _set_allowances(stack: Stack, chain: str, pool: str, tokens: list[str]) -> None:
    """Reset the resolver's allowances for ``pool``, so the trades must approve again."""
    sender = AccountSender(stack.clients[chain], stack.manifest.accounts.resolver.local_account())
    for token in tokens:
        data = _APPROVE + encode(["address", "uint256"], [pool, 0])
        assert (await sender.transact(token, data, gas=100_000)).status == 1


async def _trade_until(
    connector: Connector, market_id: str, done: asyncio.Event
) -> list[ExecutionResult]:
    """Small trades through one pool, alternating sides, until ``done``, then one more."""
    results: list[ExecutionResult] = []
    i = 0
    while True:
        last = done.is_set()
        side = Side.SELL_BASE if i % 2 == 0 else Side.BUY_BASE
        amount = 10**15 if side is Side.SELL_BASE else 3 * 10**6  # 0.001 WETH / 3 USDC
        request = ExecutionRequest(
            market_id=market_id, side=side, amount_in=amount, min_amount_out=1, client_id=f"t{i}"
        )
        results.append(await connector.execute(request))
        i += 1
        if last:
            return results


async def test_settlement_and_amm_trades_from_one_account_never_collide_on_a_nonce(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    resolver = devnet.accounts.resolver.address
    alpha = devnet.chain("alpha")
    pool = alpha.pool("WETH", "USDC")
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        nonces = NonceManager(stack.redis, Keys(stack.config.key_prefix))
        await _set_allowances(stack, "alpha", pool.address, [pool.token0, pool.token1])
        start_nonce = await stack.clients["alpha"].nonce(resolver, "latest")
        start_block = (await stack.clients["alpha"].head()).number + 1
        async with amm_connectors(devnet, executor=True, nonces=nonces) as connectors:
            [amm] = [c for c in connectors if c.name == "alpha"]
            market_id = f"alpha:{pool.address}"
            assert market_id in {m.id for m in amm.markets()}
            await stack.start_coordinator(nonces=nonces)
            quotes = [
                await stack.put(_quote(stack, i, src, dst))
                for i, (src, dst) in enumerate(
                    [("gamma", "alpha"), ("alpha", "beta"), ("gamma", "alpha"), ("alpha", "beta")]
                )
            ]
            done = asyncio.Event()
            trading = asyncio.create_task(_trade_until(amm, market_id, done))
            results = await asyncio.gather(*(stack.trader.swap(q, stack.service) for q in quotes))
            swaps = await stack.wait_terminal([r.ticket.swap.id for r in results])
            done.set()
            trades = await trading
        records = await _records(stack, alpha.chain_id)
        end_nonce = await stack.clients["alpha"].nonce(resolver, "latest")
        mined = await _mined_from(stack, "alpha", resolver, start_block)
        receipts = await stack.clients["alpha"].receipts([r.hash for r in records])
    assert [r.outcome for r in results] == [TraderOutcome.CLAIMED] * len(quotes)
    for swap in swaps:  # one transaction per step: nothing was sent again under a new nonce
        assert swap.phase is SwapPhase.COMPLETED
        assert [(t.kind, t.status) for t in swap.txs] == [
            (TxKind.DESTINATION_LOCK, 1),
            (TxKind.SOURCE_CLAIM, 1),
        ]
    # every transaction the two issued on alpha is on record, nonces without gap or repeat
    assert [r.nonce for r in records] == list(range(start_nonce, end_nonce))
    assert {r.hash.lower(): r.nonce for r in records} == mined
    assert all(r is not None and r.status == 1 for r in receipts)
    trade_hashes = {t.tx_hash for t in trades}
    settled = {t.hash for s in swaps for t in s.txs if t.chain == "alpha"}
    assert trade_hashes | settled <= {r.hash for r in records}
    labels = [r.label for r in records if r.kind is None]
    assert sum("approve" in label and "evm_amm" in label for label in labels) == 2
    # the two really ran side by side: neither sender's nonces all come before the other's
    trade_nonces = sorted(r.nonce for r in records if r.hash in trade_hashes)
    settle_nonces = sorted(r.nonce for r in records if r.hash in settled)
    assert len(settle_nonces) == len(settled) >= 3 and len(trade_nonces) == len(trades) >= 2
    assert trade_nonces[0] < settle_nonces[-1] and settle_nonces[0] < trade_nonces[-1]
    assert not [m for m in caplog.messages if any(s in m for s in _COLLISIONS)]


class _FlakyAccount:
    """An account whose next broadcasts fail as told, then go through."""

    def __init__(self, inner: ChainAccount, failures: list[ChainError]) -> None:
        self.inner = inner
        self.failures = failures
        self.chain_key = inner.chain_key
        self.chain_id = inner.chain_id
        self.address = inner.address

    async def transaction_count(self, block: str) -> int:
        return await self.inner.transaction_count(block)

    async def broadcast(self, tx: SignedTx) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        return await self.inner.broadcast(tx)

    async def transaction_known(self, tx_hash: str) -> bool:
        return await self.inner.transaction_known(tx_hash)

    async def void_tx(self, nonce: int) -> SignedTx:
        return await self.inner.void_tx(nonce)


def _transfer(account: ChainAccount, to: str) -> Any:
    return lambda nonce: as_chain_tx(
        account.sign(to, b"", nonce=nonce, gas=21_000, value=1), 21_000
    )


@pytest.mark.parametrize("sender", ["in_process", "another_process"])
async def test_a_transaction_on_record_that_never_reached_the_node_is_sent_before_later_ones(
    devnet: DevnetManifest,
    redis_url: str,
    tmp_path: Path,
    sender: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quick = {"rebroadcast_after_s": 0.5, "receipt_timeout_s": 1.0}
    async with settlement_stack(devnet, redis_url, tmp_path, **quick) as stack:
        coordinator = await stack.start_coordinator()
        client = stack.clients["alpha"]
        account = ChainAccount(client, devnet.accounts.resolver.local_account())
        await client.head()
        lost = _FlakyAccount(account, [RpcUnavailableError("connection reset")])
        # Its broadcast fails after the nonce was taken with the transaction on record. In
        # process, the manager sends it ahead of the next one; from another process (that
        # may be gone), the coordinator's next transaction goes quiet behind it and is
        # sent again after the account's backlog.
        if sender == "in_process":
            nonces = coordinator.nonces
        else:
            nonces = NonceManager(stack.redis, Keys(stack.config.key_prefix))
        signed = await nonces.send(
            lost, _transfer(account, devnet.accounts.trader.address), label="lost"
        )
        tx_hash = signed.hash.to_0x_hex()
        assert not await client.transaction_known(tx_hash)
        # the coordinator's next transaction on alpha waits behind it, and sends it first
        result = await stack.trader.swap(
            await stack.put(_quote(stack, 0, "gamma", "alpha")), stack.service
        )
        [swap] = await stack.wait_terminal([result.ticket.swap.id])
        [receipt] = await client.receipts([tx_hash])
    assert result.outcome is TraderOutcome.CLAIMED and swap.phase is SwapPhase.COMPLETED
    assert receipt is not None and receipt.status == 1
    lock = swap.txs[0]
    assert lock.chain == "alpha" and lock.nonce == signed.nonce + 1
    stalls = [m for m in caplog.messages if "ReceiptTimeoutError" in m]
    if sender == "in_process":  # sent right ahead of the lock: the lock never waited
        assert not stalls


async def test_a_refused_transaction_gives_its_nonce_to_a_void_transfer(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        nonces = NonceManager(stack.redis, Keys(stack.config.key_prefix))
        client = stack.clients["beta"]
        resolver = devnet.accounts.resolver.address
        account = ChainAccount(client, devnet.accounts.resolver.local_account())
        await client.head()
        refused = _FlakyAccount(account, [ChainError("insufficient funds for gas * price")])
        before = await client.nonce(resolver, "latest")
        with pytest.raises(ChainError):
            await nonces.send(refused, _transfer(account, devnet.accounts.trader.address))
        backlog = await nonces.backlog(client.chain_id, resolver, before + 1)
        [void] = backlog
        await client.wait_receipt(void.hash)
        # the next transaction follows right after it
        after = await nonces.send(account, _transfer(account, devnet.accounts.trader.address))
        await client.wait_receipt(after.hash.to_0x_hex())
        final = await client.nonce(resolver, "latest")
        void_tx = await client.call("eth_getTransactionByHash", void.hash)
    assert void.nonce == before and void.label.startswith("void of")
    assert str(void_tx["to"]).lower() == resolver.lower() and int(void_tx["value"], 16) == 0
    assert after.nonce == before + 1 and final == before + 2


async def test_a_sole_sender_counts_its_own_nonces_and_reuses_a_refused_one(
    devnet: DevnetManifest, redis_url: str, tmp_path: Path
) -> None:
    assert nonce_source_from({}) is None
    source = LocalNonces()
    assert nonce_source_from({NONCE_SOURCE: source}) is source
    with pytest.raises(TypeError):
        nonce_source_from({NONCE_SOURCE: object()})
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        client = stack.clients["gamma"]
        resolver = devnet.accounts.resolver.address
        account = ChainAccount(client, devnet.accounts.resolver.local_account())
        await client.head()
        before = await client.nonce(resolver, "pending")
        refused = _FlakyAccount(account, [ChainError("max fee per gas less than block base fee")])
        with pytest.raises(ChainError):
            await source.send(refused, _transfer(account, devnet.accounts.trader.address))
        sent = await asyncio.gather(
            *(source.send(account, _transfer(account, resolver)) for _ in range(3))
        )
        for tx in sent:
            await client.wait_receipt(tx.hash.to_0x_hex())
        final = await client.nonce(resolver, "latest")
    assert sorted(tx.nonce for tx in sent) == [before, before + 1, before + 2]
    assert final == before + 3
