"""Swaps through a pool: approve if needed, swap with a minimum output and a
deadline, and read the exact amounts from the receipt's ``Swap`` event.

The output is checked against the pool's own ``getAmountOut`` before anything
is sent, and again by the pool itself on chain; either way a shortfall is a
:class:`~aggregator.errors.SlippageExceededError`.

Every transaction (approvals included) takes its nonce from a
:class:`~aggregator.chain.nonces.NonceSource`: the one the service shares
between every sender of the account (the settlement's, in Redis: the resolver
signs both the swaps' settlement and these trades), or, on its own, one that
counts in memory. Gas is estimated and fees read before the nonce is taken, so
the account's lock is held only while signing and broadcasting.
"""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import TxReceipt

from aggregator.chain.nonces import (
    LocalNonces,
    NonceSource,
    SendResult,
    classify_send_error,
)
from aggregator.chain.rpc import (
    RpcCall,
    SignedTx,
    TxSender,
    Web3Client,
    close_web3,
    gas_with_margin,
    make_web3,
    require_success,
    send_raw,
    suggest_fees,
    wait_receipt,
)
from aggregator.errors import (
    ChainError,
    SlippageExceededError,
    TransactionRevertedError,
)
from aggregator.models.market import Side
from aggregator.plugins.protocol import ExecutionRequest, ExecutionResult, Fill
from connectors.evm_amm import abi
from connectors.evm_amm.reader import BlockReader, PoolRef

__all__ = ["SwapExecutor", "min_out_for_limit"]


def min_out_for_limit(request: ExecutionRequest, pool: PoolRef) -> int:
    """The minimum output a limit price implies (0 without one), in base units, exactly."""
    if request.limit_price is None or request.limit_price <= 0:
        return 0
    # quote base units per base base unit, as an exact fraction
    per_unit = Fraction(request.limit_price) * Fraction(10) ** (
        pool.quote_decimals - pool.base_decimals
    )
    if request.side is Side.SELL_BASE:
        return math.floor(request.amount_in * per_unit)
    return math.floor(request.amount_in / per_unit)


class _PoolAccount:
    """The executor's account on its chain, as a nonce source drives it."""

    def __init__(self, chain_key: str, sender: TxSender, reader: BlockReader) -> None:
        self.chain_key = chain_key
        self.chain_id = sender.chain_id
        self.address = str(sender.address)
        self._sender = sender
        self._reader = reader

    async def transaction_count(self, block: str) -> int:
        (raw,) = await self._reader.batch(
            [RpcCall("eth_getTransactionCount", [self.address, block])]
        )
        return int(raw, 16)

    async def broadcast(self, tx: SignedTx) -> SendResult:
        try:
            await send_raw(self._sender.w3, tx.raw)
        except ChainError as exc:
            result = classify_send_error(exc)
            if result is None:
                raise
            return result
        return SendResult.SENT

    async def transaction_known(self, tx_hash: str) -> bool:
        (found,) = await self._reader.batch([RpcCall("eth_getTransactionByHash", [tx_hash])])
        return found is not None

    async def void_tx(self, nonce: int) -> SignedTx:
        fees = await suggest_fees(self._sender.w3)
        return self._sender.sign(self._sender.address, b"", gas=21_000, fees=fees, nonce=nonce)


class SwapExecutor:
    """Signs and sends swaps for one account on one chain, one at a time."""

    def __init__(
        self,
        reader: BlockReader,
        private_key: str,
        receipt_timeout_s: float,
        *,
        chain_key: str,
        chain_id: int,
        nonces: NonceSource | None = None,
    ) -> None:
        """``nonces``: the account's nonce authority when it has other senders;
        without one, nonces are counted here from the chain's pending count."""
        self._reader = reader
        self.account: LocalAccount = Account.from_key(private_key)
        self._receipt_timeout = receipt_timeout_s
        self._chain_key = chain_key
        self._chain_id = chain_id
        self.nonces: NonceSource = nonces if nonces is not None else LocalNonces()
        self._w3: Web3Client | None = None
        self._sender: TxSender | None = None
        self._account: _PoolAccount | None = None
        self._lock = asyncio.Lock()

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    async def _ensure(self) -> tuple[TxSender, _PoolAccount]:
        if self._sender is None or self._account is None:
            self._w3 = await make_web3(self._reader.url)
            # nonces come from the nonce source; the sender's own counter is not used
            self._sender = TxSender(self._w3, self.account, self._chain_id, 0)
            self._account = _PoolAccount(self._chain_key, self._sender, self._reader)
        return self._sender, self._account

    async def close(self) -> None:
        if self._w3 is not None:
            await close_web3(self._w3)
        self._w3 = None
        self._sender = None
        self._account = None

    async def _transact(self, to: ChecksumAddress, data: HexStr | bytes, label: str) -> TxReceipt:
        """Estimate, take a nonce, sign, broadcast, wait; raises if it reverted."""
        sender, account = await self._ensure()
        gas = gas_with_margin(await sender.estimate_gas(to, data))
        fees = await suggest_fees(sender.w3)
        signed = await self.nonces.send(
            account,
            lambda nonce: sender.sign(to, data, gas=gas, fees=fees, nonce=nonce),
            label=f"evm_amm {self._chain_key} {label}",
        )
        receipt = await wait_receipt(sender.w3, signed.hash, timeout=self._receipt_timeout)
        await self.nonces.confirm(account, signed.hash.to_0x_hex())
        return require_success(receipt)

    async def balances(self, pools: tuple[PoolRef, ...]) -> dict[str, int]:
        """Token balances of the account for every asset of ``pools``, in one batch."""
        tokens: dict[str, str] = {}
        for p in pools:
            tokens[p.market.base.asset] = p.base_token
            tokens[p.market.quote.asset] = p.quote_token
        calls = [
            RpcCall(
                "eth_call",
                [{"to": t, "data": abi.call_data(abi.BALANCE_OF, self.address)}, "latest"],
            )
            for t in tokens.values()
        ]
        results = await self._reader.batch(calls)
        return {
            a: abi.decode_uint(r, f"balanceOf {a}") for a, r in zip(tokens, results, strict=True)
        }

    async def execute(self, pool: PoolRef, request: ExecutionRequest) -> ExecutionResult:
        async with self._lock:
            return await self._execute(pool, request)

    async def _execute(self, pool: PoolRef, request: ExecutionRequest) -> ExecutionResult:
        base_in = request.side is Side.SELL_BASE
        token_in = pool.token_in(base_in)
        minimum = max(request.min_amount_out, min_out_for_limit(request, pool), 1)
        header, allowance_raw, quoted_raw = await self._reader.batch(
            [
                RpcCall("eth_getBlockByNumber", ["latest", False]),
                RpcCall(
                    "eth_call",
                    [
                        {
                            "to": token_in,
                            "data": abi.call_data(abi.ALLOWANCE, self.address, pool.address),
                        },
                        "latest",
                    ],
                ),
                RpcCall(
                    "eth_call",
                    [
                        {
                            "to": pool.address,
                            "data": abi.call_data(abi.GET_AMOUNT_OUT, request.amount_in, token_in),
                        },
                        "latest",
                    ],
                ),
            ]
        )
        quoted = abi.decode_uint(quoted_raw, "getAmountOut")
        if quoted < minimum:
            raise SlippageExceededError(
                f"pool {pool.address} pays {quoted} for {request.amount_in}, "
                f"below the minimum {minimum}; nothing was sent",
                market_id=pool.market.id,
                amount_out=quoted,
                min_amount_out=minimum,
            )
        if abi.decode_uint(allowance_raw, "allowance") < request.amount_in:
            await self._transact(
                to_checksum_address(token_in),
                abi.call_data(abi.APPROVE, pool.address, abi.MAX_UINT256),
                f"approve {pool.address}",
            )
        deadline = int(header["timestamp"], 16) + request.deadline_s
        data = abi.call_data(abi.SWAP, token_in, request.amount_in, minimum, self.address, deadline)
        try:
            receipt = await self._transact(
                to_checksum_address(pool.address), data, f"swap {request.client_id}"
            )
        except TransactionRevertedError as exc:
            raise self._translate_revert(exc, pool, minimum) from exc
        amount_in, amount_out = self._swap_amounts(receipt, pool)
        if amount_out < minimum:
            raise SlippageExceededError(
                f"received {amount_out}, below the minimum {minimum}",
                market_id=pool.market.id,
                tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            )
        block = int(receipt["blockNumber"])
        (block_header,) = await self._reader.batch(
            [RpcCall("eth_getBlockByNumber", [hex(block), False])]
        )
        ts_event = int(block_header["timestamp"], 16) * 1_000_000_000
        base_amount, quote_amount = (amount_in, amount_out) if base_in else (amount_out, amount_in)
        price = (Decimal(quote_amount) / Decimal(base_amount)).scaleb(
            pool.base_decimals - pool.quote_decimals
        )
        return ExecutionResult(
            market_id=pool.market.id,
            side=request.side,
            amount_in=amount_in,
            amount_out=amount_out,
            fills=(Fill(price=price, base_amount=base_amount, quote_amount=quote_amount),),
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            gas_used=int(receipt["gasUsed"]),
            ts_event=ts_event,
            ts_recv=time.time_ns(),
        )

    @staticmethod
    def _translate_revert(exc: TransactionRevertedError, pool: PoolRef, minimum: int) -> ChainError:
        data = exc.details.get("revert_data")
        text = data if isinstance(data, str) else HexBytes(data or b"").to_0x_hex()
        if text.startswith(abi.INSUFFICIENT_OUTPUT):
            got = abi.decode_uint("0x" + text[10:], "InsufficientOutput")
            return SlippageExceededError(
                f"pool {pool.address} would pay {got}, below the minimum {minimum}",
                market_id=pool.market.id,
                amount_out=got,
                min_amount_out=minimum,
            )
        return exc

    @staticmethod
    def _swap_amounts(receipt: Any, pool: PoolRef) -> tuple[int, int]:
        for entry in receipt["logs"]:
            topics = [HexBytes(t).to_0x_hex() for t in entry["topics"]]
            if (
                topics
                and topics[0] == abi.SWAP_TOPIC
                and str(entry["address"]).lower() == pool.address.lower()
            ):
                amount_in, amount_out = abi.decode_uints(HexBytes(entry["data"]), 2, "Swap event")
                return amount_in, amount_out
        raise ChainError(
            "the swap's receipt has no Swap event from the pool",
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        )
