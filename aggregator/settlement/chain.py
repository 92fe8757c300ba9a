"""Lean JSON-RPC access to one chain for settlement: reads, sends, receipts, signing.

Requests go through :func:`aggregator.chain.rpc.rpc_batch` over one keep-alive
aiohttp session per process, so several calls share one HTTP round trip and
errors arrive already translated into :mod:`aggregator.errors`. Every request
is counted (:class:`RpcCounter`), which is how the benchmark reports RPC
requests per swap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes

from aggregator.chain.nonces import SendResult, classify_send_error
from aggregator.chain.rpc import RpcCall, rpc_batch
from aggregator.chain.rpc import SignedTx as ChainSignedTx
from aggregator.errors import ChainError, ReceiptTimeoutError, RpcUnavailableError
from aggregator.settlement.machine import Receipt
from aggregator.settlement.terms import HtlcState, state_of_calldata

__all__ = [
    "AccountSender",
    "ChainAccount",
    "ChainClient",
    "Head",
    "RpcCounter",
    "SendResult",
    "SignedTx",
    "as_chain_tx",
    "new_session",
    "parse_head",
    "sign_tx",
]


@dataclass
class RpcCounter:
    """HTTP requests made (a raw batch counts once) and calls inside them."""

    requests: int = 0
    calls: int = 0


@dataclass(frozen=True)
class Head:
    number: int
    hash: str
    timestamp: int
    base_fee: int


@dataclass(frozen=True)
class SignedTx:
    raw: str
    hash: str
    nonce: int


def new_session() -> aiohttp.ClientSession:
    """One keep-alive HTTP session for every chain client of a process."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30))


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def parse_head(block: dict[str, Any]) -> Head:
    return Head(
        number=_int(block["number"]),
        hash=str(block["hash"]),
        timestamp=_int(block["timestamp"]),
        base_fee=_int(block.get("baseFeePerGas", "0x0")),
    )


def sign_tx(
    account: LocalAccount,
    chain_id: int,
    *,
    to: str,
    data: bytes,
    nonce: int,
    gas: int,
    max_fee: int,
    tip: int,
    value: int = 0,
) -> SignedTx:
    """An EIP-1559 transaction signed locally with an explicit nonce."""
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "to": HexStr(to),
            "value": value,
            "data": HexBytes(data),
        }
    )
    return SignedTx(
        raw=HexBytes(signed.raw_transaction).to_0x_hex(),
        hash=HexBytes(signed.hash).to_0x_hex(),
        nonce=nonce,
    )


class ChainClient:
    """JSON-RPC calls to one chain (see the module docstring)."""

    def __init__(
        self,
        key: str,
        chain_id: int,
        url: str,
        session: aiohttp.ClientSession,
        counter: RpcCounter | None = None,
        *,
        tip_wei: int = 1_000_000_000,
    ) -> None:
        self.key = key
        self.chain_id = chain_id
        self.url = url
        self.session = session
        self.counter = counter or RpcCounter()
        self.tip_wei = tip_wei
        self.last_base_fee = 0

    async def batch(self, calls: Sequence[RpcCall]) -> list[Any]:
        """One HTTP request; retried once on a transport failure (a keep-alive connection
        the node closed), which is safe: every call made here is idempotent, a raw
        transaction included (same bytes, same hash)."""
        for attempt in range(2):
            self.counter.requests += 1
            self.counter.calls += len(calls)
            try:
                return await rpc_batch(self.url, calls, session=self.session)
            except RpcUnavailableError:
                if attempt:
                    raise
                await asyncio.sleep(0.01)
        raise AssertionError("unreachable")

    async def call(self, method: str, *params: Any) -> Any:
        return (await self.batch([RpcCall(method, list(params))]))[0]

    async def head(self) -> Head:
        head = parse_head(await self.call("eth_getBlockByNumber", "latest", False))
        self.last_base_fee = head.base_fee
        return head

    async def block(self, number: int) -> Head | None:
        block = await self.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else parse_head(block)

    async def logs(
        self, address: str, from_block: int, to_block: int, topics: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {
            "address": address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
        }
        if topics is not None:
            query["topics"] = list(topics)
        result = await self.call("eth_getLogs", query)
        return list(result or [])

    async def head_and_logs(
        self, address: str, from_block: int, topics: Sequence[Any]
    ) -> tuple[Head, list[dict[str, Any]]]:
        """The latest block and the logs from ``from_block`` to the latest, in one request."""
        query = {"address": address, "fromBlock": hex(from_block), "toBlock": "latest"}
        block, logs = await self.batch(
            [
                RpcCall("eth_getBlockByNumber", ["latest", False]),
                RpcCall("eth_getLogs", [{**query, "topics": list(topics)}]),
            ]
        )
        head = parse_head(block)
        self.last_base_fee = head.base_fee
        return head, list(logs or [])

    async def eth_call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        result = await self.call("eth_call", {"to": to, "data": "0x" + data.hex()}, tag)
        return bytes.fromhex(str(result)[2:])

    async def states(
        self, htlc: str, swap_ids: Sequence[str], block: int | str = "latest"
    ) -> list[HtlcState]:
        """``stateOf`` of several ids at ``block``, in one request."""
        if not swap_ids:
            return []
        tag = hex(block) if isinstance(block, int) else block
        calls = [
            RpcCall("eth_call", [{"to": htlc, "data": "0x" + state_of_calldata(i).hex()}, tag])
            for i in swap_ids
        ]
        return [HtlcState(_int(r)) for r in await self.batch(calls)]

    async def nonce(self, address: str, tag: str = "pending") -> int:
        return _int(await self.call("eth_getTransactionCount", address, tag))

    async def balance(self, address: str) -> int:
        return _int(await self.call("eth_getBalance", address, "latest"))

    def fees(self) -> tuple[int, int]:
        """(max fee, tip) from the last base fee seen: twice the base fee plus the tip."""
        return 2 * self.last_base_fee + self.tip_wei, self.tip_wei

    async def send_raw(self, raw: str) -> SendResult:
        """Broadcast; a node that already has the transaction, or its nonce, says so."""
        try:
            await self.call("eth_sendRawTransaction", raw)
        except ChainError as exc:
            result = classify_send_error(exc)
            if result is None:
                raise
            return result
        return SendResult.SENT

    async def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction (pending or included)."""
        return await self.call("eth_getTransactionByHash", tx_hash) is not None

    async def send_raws(self, raws: Sequence[str]) -> None:
        """Broadcast several in one raw JSON-RPC array (a dev node mines them together)."""
        if raws:
            await self.batch([RpcCall("eth_sendRawTransaction", [r]) for r in raws])

    async def fee_paid(self, tx_hash: str) -> int:
        """Wei a transaction paid for gas: gas used times the effective gas price."""
        receipt = await self.call("eth_getTransactionReceipt", tx_hash)
        return _int(receipt["gasUsed"]) * _int(receipt["effectiveGasPrice"])

    async def receipts(self, tx_hashes: Sequence[str]) -> list[Receipt | None]:
        if not tx_hashes:
            return []
        calls = [RpcCall("eth_getTransactionReceipt", [h]) for h in tx_hashes]
        return self._receipts(await self.batch(calls))

    async def nonce_and_receipts(
        self, address: str, tx_hashes: Sequence[str]
    ) -> tuple[int, list[Receipt | None]]:
        """The account's included-transaction count, then receipts, in one request.

        The count is read first: a transaction it counts has its receipt readable by the
        time the receipts are read.
        """
        calls = [RpcCall("eth_getTransactionCount", [address, "latest"])]
        calls += [RpcCall("eth_getTransactionReceipt", [h]) for h in tx_hashes]
        results = await self.batch(calls)
        return _int(results[0]), self._receipts(results[1:])

    @staticmethod
    def _receipts(results: Sequence[Any]) -> list[Receipt | None]:
        out: list[Receipt | None] = []
        for r in results:
            if r is None:
                out.append(None)
            else:
                out.append(
                    Receipt(
                        status=_int(r["status"]),
                        block=_int(r["blockNumber"]),
                        gas_used=_int(r["gasUsed"]),
                    )
                )
        return out

    async def wait_receipt(
        self,
        tx_hash: str,
        timeout: float = 10.0,  # noqa: ASYNC109 (a polling deadline, checked between polls)
        poll: float = 0.003,
    ) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            [receipt] = await self.receipts([tx_hash])
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ReceiptTimeoutError("no receipt before the timeout", tx_hash=tx_hash)
            await asyncio.sleep(poll)


class AccountSender:
    """Sends transactions for one account with nonces tracked in memory (trader, tools)."""

    def __init__(self, client: ChainClient, account: LocalAccount) -> None:
        self.client = client
        self.account = account
        self._nonce: int | None = None
        self._lock = asyncio.Lock()
        self.sent: list[SignedTx] = []

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def send(self, to: str, data: bytes, *, gas: int, value: int = 0) -> SignedTx:
        async with self._lock:
            if self._nonce is None:
                self._nonce = await self.client.nonce(self.address)
            if self.client.last_base_fee == 0:
                await self.client.head()
            max_fee, tip = self.client.fees()
            signed = sign_tx(
                self.account,
                self.client.chain_id,
                to=to,
                data=data,
                nonce=self._nonce,
                gas=gas,
                max_fee=max_fee,
                tip=tip,
                value=value,
            )
            try:
                result = await self.client.send_raw(signed.raw)
            except ChainError:
                self._nonce = None  # re-read from the chain next time
                raise
            if result is SendResult.NONCE_USED:
                self._nonce = None
                raise ChainError("nonce already used", chain=self.client.key, nonce=signed.nonce)
            self._nonce += 1
            self.sent.append(signed)
            return signed

    async def transact(
        self, to: str, data: bytes, *, gas: int, value: int = 0, wait_s: float = 10.0
    ) -> Receipt:
        signed = await self.send(to, data, gas=gas, value=value)
        return await self.client.wait_receipt(signed.hash, timeout=wait_s)


class ChainAccount:
    """An account on one chain as a nonce source drives it
    (:class:`~aggregator.chain.nonces.AccountChain`): signs zero-value transfers that
    fill a nonce, with fees from the last base fee the client saw."""

    def __init__(self, client: ChainClient, account: LocalAccount) -> None:
        self.client = client
        self.account = account
        self.address = str(account.address)

    @property
    def chain_key(self) -> str:
        return self.client.key

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    def sign(self, to: str, data: bytes, *, nonce: int, gas: int, value: int = 0) -> SignedTx:
        """Sign with an explicit nonce."""
        if self.client.last_base_fee == 0:
            self.client.last_base_fee = 1_000_000_000
        max_fee, tip = self.client.fees()
        return sign_tx(
            self.account,
            self.chain_id,
            to=to,
            data=data,
            nonce=nonce,
            gas=gas,
            max_fee=max_fee,
            tip=tip,
            value=value,
        )

    async def transaction_count(self, block: str) -> int:
        return await self.client.nonce(self.address, block)

    async def broadcast(self, tx: ChainSignedTx) -> SendResult:
        return await self.client.send_raw(tx.raw.to_0x_hex())

    async def transaction_known(self, tx_hash: str) -> bool:
        return await self.client.transaction_known(tx_hash)

    async def void_tx(self, nonce: int) -> ChainSignedTx:
        return as_chain_tx(self.sign(self.address, b"", nonce=nonce, gas=21_000), 21_000)


def as_chain_tx(signed: SignedTx, gas: int) -> ChainSignedTx:
    """The same transaction in :mod:`aggregator.chain`'s form."""
    return ChainSignedTx(
        raw=HexBytes(signed.raw), hash=HexBytes(signed.hash), nonce=signed.nonce, gas=gas
    )
