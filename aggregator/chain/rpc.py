"""JSON-RPC access to EVM chains: a lean ``AsyncWeb3``, local signing, fast receipts.

Everything here is shared by the settlement engine, the AMM connector and the
devnet. Three measured facts shape it:

- web3.py's default middleware (validation in particular) adds two
  ``eth_chainId`` round trips to every ``eth_call``; :func:`make_web3` builds a
  client with no middleware at all, over one keep-alive aiohttp session.
- a node answers ``eth_sendRawTransaction`` before the receipt is readable, and
  web3.py's own receipt wait polls every 0.1 s; :func:`wait_receipt` polls every
  few milliseconds instead.
- ``batch_requests`` refuses ``eth_sendRawTransaction``; :func:`send_raw_batch`
  posts one raw JSON-RPC array, which a dev node mines into one block.

Dependency exceptions are translated here (:func:`rpc_errors`) into
:class:`~aggregator.errors.ChainError` subclasses; callers never see aiohttp or
web3 exceptions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import aiohttp
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TransactionNotFound,
    Web3RPCError,
)
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import TxReceipt

from aggregator.errors import (
    ChainError,
    ReceiptTimeoutError,
    RpcUnavailableError,
    TransactionRevertedError,
)

__all__ = [
    "ChainHead",
    "Fees",
    "RpcCall",
    "SignedTx",
    "TxSender",
    "Web3Client",
    "chain_head",
    "close_web3",
    "gas_with_margin",
    "make_web3",
    "require_success",
    "rpc_batch",
    "rpc_errors",
    "send_raw",
    "send_raw_batch",
    "suggest_fees",
    "translate_error",
    "wait_receipt",
]

Web3Client = AsyncWeb3[AsyncHTTPProvider]
"""The client type :func:`make_web3` returns."""

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ProviderConnectionError,
    RequestTimedOut,
)
# Reads that may be resent when a kept-alive connection turns out to be closed.
_READ_METHODS: tuple[str, ...] = (
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getCode",
    "eth_getLogs",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_maxPriorityFeePerGas",
)
# Everything rpc_errors translates; other exceptions (bad arguments, bugs) propagate as they are.
_TRANSLATED: tuple[type[BaseException], ...] = (
    *_TRANSPORT_ERRORS,
    ContractLogicError,
    Web3RPCError,
    BadResponseFormat,
    json.JSONDecodeError,
)


class ChainHead(NamedTuple):
    """The latest block: its number and its timestamp (chain time, seconds)."""

    number: int
    timestamp: int


class Fees(NamedTuple):
    """EIP-1559 fee caps in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class SignedTx(NamedTuple):
    """A locally signed transaction, ready for ``eth_sendRawTransaction``."""

    raw: HexBytes
    hash: HexBytes
    nonce: int
    gas: int


class RpcCall(NamedTuple):
    """One JSON-RPC method call inside a raw batch."""

    method: str
    params: Sequence[Any]


# ---------------------------------------------------------------------------
# errors


def translate_error(exc: BaseException, *, url: str | None = None) -> ChainError:
    """Map an aiohttp / web3 / OS exception to the most specific :class:`ChainError`."""
    if isinstance(exc, ChainError):
        return exc
    if isinstance(exc, ContractLogicError):
        return TransactionRevertedError(
            exc.message or "execution reverted", url=url, revert_data=exc.data
        )
    if isinstance(exc, aiohttp.ClientResponseError) and exc.status < 500:
        return ChainError(f"RPC endpoint answered HTTP {exc.status}", url=url, http=exc.status)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return RpcUnavailableError(f"RPC endpoint unreachable: {type(exc).__name__}", url=url)
    if isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or exc.message)
            return ChainError(message, url=url, rpc_code=error.get("code"))
        return ChainError(exc.message, url=url)
    return ChainError(f"{type(exc).__name__}: {exc}", url=url)


@contextmanager
def rpc_errors(url: str | None = None) -> Iterator[None]:
    """Translate transport, JSON-RPC and revert exceptions raised inside the block.

    See :func:`translate_error`; anything else (a bad argument, a bug) propagates unchanged.
    """
    try:
        yield
    except asyncio.CancelledError:
        raise
    except _TRANSLATED as exc:
        raise translate_error(exc, url=url) from exc


# ---------------------------------------------------------------------------
# client


async def make_web3(url: str, *, request_timeout: float = 10.0) -> Web3Client:
    """An ``AsyncWeb3`` over HTTP with no middleware and one keep-alive session.

    Must be awaited inside the event loop that will use the client. The only
    retry here is one immediate resend of a read whose kept-alive connection the
    node had closed; every other transport failure surfaces at once as the
    retryable :class:`RpcUnavailableError` and the caller decides.
    """
    provider = AsyncHTTPProvider(
        url,
        request_kwargs={"timeout": aiohttp.ClientTimeout(total=request_timeout)},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(aiohttp.ServerDisconnectedError,),
            retries=2,
            backoff_factor=0.0,
            method_allowlist=_READ_METHODS,
        ),
    )
    session = aiohttp.ClientSession(
        raise_for_status=True,
        connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30),
    )
    await provider.cache_async_session(session)
    return AsyncWeb3(provider, middleware=[])


async def close_web3(w3: Web3Client) -> None:
    """Close the client's HTTP session(s)."""
    await w3.provider.disconnect()


def _endpoint(w3: Web3Client) -> str:
    return str(w3.provider.endpoint_uri)


async def chain_head(w3: Web3Client) -> ChainHead:
    """Number and timestamp of the latest block, in one request."""
    with rpc_errors(_endpoint(w3)):
        block = await w3.eth.get_block("latest")
    return ChainHead(number=int(block["number"]), timestamp=int(block["timestamp"]))


async def suggest_fees(w3: Web3Client) -> Fees:
    """Fee caps from the chain: twice the latest base fee plus the node's priority tip."""
    with rpc_errors(_endpoint(w3)):
        block, tip = await asyncio.gather(w3.eth.get_block("latest"), w3.eth.max_priority_fee)
    base_fee = int(block.get("baseFeePerGas", 0))
    return Fees(max_fee_per_gas=2 * base_fee + int(tip), max_priority_fee_per_gas=int(tip))


# ---------------------------------------------------------------------------
# sending


async def send_raw(w3: Web3Client, raw: bytes) -> HexBytes:
    """Submit one signed transaction; returns its hash."""
    with rpc_errors(_endpoint(w3)):
        return await w3.eth.send_raw_transaction(raw)


async def wait_receipt(
    w3: Web3Client,
    tx_hash: bytes,
    timeout: float = 10.0,  # noqa: ASYNC109 (a polling deadline, checked between polls)
    poll: float = 0.003,
) -> TxReceipt:
    """Poll for a receipt every ``poll`` seconds; :class:`ReceiptTimeoutError` after ``timeout``.

    The receipt is returned whatever its status; see :func:`require_success`.
    """
    deadline = time.monotonic() + timeout
    with rpc_errors(_endpoint(w3)):
        while True:
            try:
                return await w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                pass
            if time.monotonic() >= deadline:
                raise ReceiptTimeoutError(
                    "no receipt before the timeout", tx_hash=HexBytes(tx_hash).to_0x_hex()
                )
            await asyncio.sleep(poll)


def require_success(receipt: TxReceipt) -> TxReceipt:
    """Return the receipt, or raise :class:`TransactionRevertedError` if it failed."""
    if int(receipt["status"]) != 1:
        raise TransactionRevertedError(
            "transaction reverted",
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
        )
    return receipt


_batch_ids = itertools.count(1)


async def rpc_batch(
    url: str,
    calls: Sequence[RpcCall],
    *,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = 10.0,
) -> list[Any]:
    """Post one raw JSON-RPC array and return each call's ``result`` in order.

    Raises on the first call that answered with an error: a revert as
    :class:`TransactionRevertedError`, anything else as :class:`ChainError`,
    both carrying the call's ``index`` and the node's ``rpc_code``.
    """
    if not calls:
        return []
    ids = [next(_batch_ids) for _ in calls]
    body = [
        {"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)}
        for i, c in zip(ids, calls, strict=True)
    ]
    payload = await _post_json(url, body, session=session, request_timeout=request_timeout)
    if not isinstance(payload, list):
        raise ChainError("malformed batch response", url=url, response=payload)
    by_id = {item.get("id"): item for item in payload if isinstance(item, dict)}
    results: list[Any] = []
    for index, (call_id, call) in enumerate(zip(ids, calls, strict=True)):
        item = by_id.get(call_id)
        if item is None:
            raise ChainError("batch response is missing a call", url=url, index=index)
        error = item.get("error")
        if error is not None:
            raise _batch_error(url, index, call.method, error)
        results.append(item.get("result"))
    return results


def _batch_error(url: str, index: int, method: str, error: Any) -> ChainError:
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    data = error.get("data") if isinstance(error, dict) else None
    # JSON-RPC code 3 is "execution reverted" (with revert data) on geth-style nodes.
    if code == 3:
        return TransactionRevertedError(
            message or "execution reverted", url=url, index=index, method=method, revert_data=data
        )
    return ChainError(message, url=url, index=index, method=method, rpc_code=code)


async def _post_json(
    url: str, body: Any, *, session: aiohttp.ClientSession | None, request_timeout: float
) -> Any:
    own = session is None
    client = session or aiohttp.ClientSession()
    try:
        with rpc_errors(url):
            async with client.post(
                url,
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=request_timeout),
            ) as response:
                response.raise_for_status()
                return await response.json(content_type=None)
    finally:
        if own:
            await client.close()


async def send_raw_batch(
    url: str,
    raws: Sequence[bytes],
    *,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = 10.0,
) -> list[HexBytes]:
    """Submit several signed transactions in one JSON-RPC array POST; returns their hashes."""
    calls = [RpcCall("eth_sendRawTransaction", [HexBytes(raw).to_0x_hex()]) for raw in raws]
    results = await rpc_batch(url, calls, session=session, request_timeout=request_timeout)
    return [HexBytes(r) for r in results]


# ---------------------------------------------------------------------------
# signing


class TxSender:
    """Signs transactions locally for one account on one chain, with explicit nonces.

    The nonce is tracked here, so many transactions can be in flight at once;
    call :meth:`sync_nonce` after a failed submission or a chain revert.
    """

    def __init__(self, w3: Web3Client, account: LocalAccount, chain_id: int, nonce: int) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id = chain_id
        self._nonce = nonce

    @classmethod
    async def create(cls, w3: Web3Client, account: LocalAccount) -> TxSender:
        """Read the chain id and the account's pending nonce from the chain."""
        with rpc_errors(_endpoint(w3)):
            chain_id, nonce = await asyncio.gather(
                w3.eth.chain_id, w3.eth.get_transaction_count(account.address, "pending")
            )
        return cls(w3, account, int(chain_id), int(nonce))

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    @property
    def next_nonce(self) -> int:
        return self._nonce

    async def sync_nonce(self) -> int:
        """Re-read the pending nonce from the chain (after a failure)."""
        with rpc_errors(_endpoint(self.w3)):
            self._nonce = int(
                await self.w3.eth.get_transaction_count(self.account.address, "pending")
            )
        return self._nonce

    async def estimate_gas(
        self, to: ChecksumAddress | None, data: HexStr | bytes = b"", value: int = 0
    ) -> int:
        """``eth_estimateGas`` from this account; a revert raises ``TransactionRevertedError``."""
        tx: dict[str, Any] = {
            "from": self.account.address,
            "data": HexBytes(data).to_0x_hex(),
            "value": value,
        }
        if to is not None:
            tx["to"] = to
        with rpc_errors(_endpoint(self.w3)):
            return int(await self.w3.eth.estimate_gas(cast(Any, tx)))

    def sign(
        self,
        to: ChecksumAddress | None,
        data: HexStr | bytes,
        *,
        gas: int,
        fees: Fees,
        value: int = 0,
        nonce: int | None = None,
    ) -> SignedTx:
        """Sign an EIP-1559 transaction; without ``nonce``, takes the next one and advances."""
        if nonce is None:
            nonce = self._nonce
            self._nonce += 1
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "value": value,
            "data": HexBytes(data),
        }
        if to is not None:
            tx["to"] = to
        signed = self.account.sign_transaction(tx)
        return SignedTx(
            raw=HexBytes(signed.raw_transaction), hash=HexBytes(signed.hash), nonce=nonce, gas=gas
        )

    async def transact(
        self,
        to: ChecksumAddress | None,
        data: HexStr | bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        fees: Fees | None = None,
        receipt_timeout: float = 10.0,
    ) -> TxReceipt:
        """Estimate (unless ``gas``), sign, send, wait; raises if the transaction reverted."""
        if gas is None:
            gas = gas_with_margin(await self.estimate_gas(to, data, value))
        if fees is None:
            fees = await suggest_fees(self.w3)
        signed = self.sign(to, data, gas=gas, fees=fees, value=value)
        try:
            await send_raw(self.w3, signed.raw)
        except ChainError:
            await self.sync_nonce()
            raise
        return require_success(await wait_receipt(self.w3, signed.hash, timeout=receipt_timeout))


def gas_with_margin(estimate: int) -> int:
    """Gas limit for an estimate: 25 % headroom for state that moves before inclusion."""
    return estimate * 5 // 4 + 10_000
