"""Deploys test tokens and constant-product pools quickly, from a fresh funded account.

Transactions that do not need each other's receipts are signed with
consecutive nonces and sent in one JSON-RPC batch.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr

from aggregator.chain.bindings import CONSTANT_PRODUCT_POOL, TEST_TOKEN, contract, contract_factory
from aggregator.chain.rpc import (
    RpcCall,
    TxSender,
    Web3Client,
    close_web3,
    make_web3,
    require_success,
    rpc_batch,
    send_raw_batch,
    suggest_fees,
    wait_receipt,
)
from aggregator.devnet.deploy import create_address

__all__ = ["MAX_MINT", "PoolLab", "fund_native"]

MAX_MINT = 2**200
_GAS_DEPLOY = 4_000_000
_GAS_CALL = 400_000


async def fund_native(url: str, address: str, wei: int = 10**24) -> None:
    await rpc_batch(url, [RpcCall("anvil_setBalance", [address, hex(wei)])])


class PoolLab:
    """One fresh account that deploys tokens and pools on a dev chain."""

    def __init__(self, url: str, account: LocalAccount | None = None) -> None:
        self.url = url
        self.account: LocalAccount = account or Account.create()
        self.w3: Web3Client | None = None
        self.sender: TxSender | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    async def open(self) -> PoolLab:
        await fund_native(self.url, self.account.address)
        self.w3 = await make_web3(self.url)
        self.sender = await TxSender.create(self.w3, self.account)
        return self

    async def close(self) -> None:
        if self.w3 is not None:
            await close_web3(self.w3)

    async def send(self, txs: list[tuple[ChecksumAddress | None, HexStr, int]]) -> list[Any]:
        """Sign ``(to, data, gas)`` transactions in order, send them in one batch, await all."""
        assert self.sender is not None and self.w3 is not None
        fees = await suggest_fees(self.w3)
        signed = [self.sender.sign(to, data, gas=gas, fees=fees) for to, data, gas in txs]
        await send_raw_batch(self.url, [s.raw for s in signed])
        return [require_success(await wait_receipt(self.w3, s.hash)) for s in signed]

    def _next_address(self, offset: int = 0) -> ChecksumAddress:
        assert self.sender is not None
        return create_address(self.account.address, self.sender.next_nonce + offset)

    async def deploy_token(self, symbol: str, decimals: int, mint_to: list[str]) -> ChecksumAddress:
        assert self.w3 is not None
        address = self._next_address()
        deploy = contract_factory(self.w3, TEST_TOKEN).constructor(symbol, symbol, decimals)
        token = contract(self.w3, TEST_TOKEN, address)
        txs: list[tuple[ChecksumAddress | None, HexStr, int]] = [
            (None, deploy.data_in_transaction, _GAS_DEPLOY)
        ]
        txs += [
            (address, token.encode_abi("mint", args=[to, MAX_MINT]), _GAS_CALL) for to in mint_to
        ]
        await self.send(txs)
        return address

    async def deploy_pool(
        self, token0: str, token1: str, fee_bps: int, reserve0: int, reserve1: int
    ) -> ChecksumAddress:
        """Deploy, approve both tokens and add the reserves: one batch of four transactions."""
        assert self.w3 is not None
        pool = self._next_address()
        deploy = contract_factory(self.w3, CONSTANT_PRODUCT_POOL).constructor(
            token0, token1, fee_bps
        )
        t0 = contract(self.w3, TEST_TOKEN, token0)
        t1 = contract(self.w3, TEST_TOKEN, token1)
        add = contract(self.w3, CONSTANT_PRODUCT_POOL, pool).encode_abi(
            "addLiquidity", args=[reserve0, reserve1, self.address]
        )
        await self.send(
            [
                (None, deploy.data_in_transaction, _GAS_DEPLOY),
                (t0.address, t0.encode_abi("approve", args=[pool, MAX_MINT]), _GAS_CALL),
                (t1.address, t1.encode_abi("approve", args=[pool, MAX_MINT]), _GAS_CALL),
                (pool, add, _GAS_CALL),
            ]
        )
        return pool
