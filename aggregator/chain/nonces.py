"""One nonce authority per account and chain.

An account's transactions are ordered by nonce. Two senders that count one
account's nonces on their own sign two transactions with one nonce: one of them
is never mined, and its sender finds out only when its receipt does not come.
So every transaction an account sends on a chain takes its nonce from one
:class:`NonceSource`, handed to each sender by whoever composes the process:

- :class:`LocalNonces` counts in memory from the chain's pending count: for a
  part that is the account's only sender (a connector on its own, a tool);
- :class:`aggregator.settlement.nonces.NonceManager` keeps the counters in
  Redis, where every coordinator takes its nonces: the service hands it to the
  connectors that sign as the resolver, under :data:`NONCE_SOURCE` in
  ``ConnectorContext.extras`` (read with :func:`nonce_source_from`).

The contract of :meth:`NonceSource.send`, for any source:

- the nonce is taken, signed with and broadcast under the account's lock, so
  the node receives an account's transactions in nonce order;
- if ``send`` returns, the nonce belongs to the returned transaction: it was
  broadcast, or the source holds it and sends it again (the Redis source keeps
  every signed transaction on record before it is broadcast, so a sender that
  dies in between leaves a transaction to resend, never a gap);
- if ``send`` raises, the caller's transaction was not sent and holds no nonce.
  A node that refuses a transaction on record gets a zero-value transfer to the
  account itself with that nonce instead (:meth:`AccountChain.void_tx`), so the
  account's later transactions are not stuck behind it.

After the receipt, the caller reports it with :meth:`NonceSource.confirm`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from aggregator.chain.rpc import SignedTx
from aggregator.errors import ChainError

__all__ = [
    "NONCE_SOURCE",
    "AccountChain",
    "LocalNonces",
    "NonceSource",
    "SendResult",
    "Signer",
    "classify_send_error",
    "nonce_source_from",
]

NONCE_SOURCE = "nonce_source"
"""Key of the :class:`NonceSource` in ``ConnectorContext.extras``."""

_ALREADY_KNOWN = ("already known", "already imported", "known transaction")
_NONCE_USED = ("nonce too low", "nonce has already been used")


class SendResult(StrEnum):
    """What a node answered to a raw transaction it did not refuse."""

    SENT = "sent"
    KNOWN = "known"
    """The node already has this very transaction."""
    NONCE_USED = "nonce_used"
    """The nonce is taken on chain: by this transaction, or by another one."""


def classify_send_error(exc: ChainError) -> SendResult | None:
    """The :class:`SendResult` a node's error to ``eth_sendRawTransaction`` means, if any.

    None: the node refused the transaction (or could not be reached).
    """
    message = exc.message.lower()
    if any(s in message for s in _ALREADY_KNOWN):
        return SendResult.KNOWN
    if any(s in message for s in _NONCE_USED):
        return SendResult.NONCE_USED
    return None


Signer = Callable[[int], SignedTx]
"""Signs the caller's transaction with the nonce it is given."""


class AccountChain(Protocol):
    """One account on one chain, as a :class:`NonceSource` drives it."""

    @property
    def chain_key(self) -> str:
        """The chain's key in configuration (``alpha``)."""
        ...

    @property
    def chain_id(self) -> int: ...

    @property
    def address(self) -> str: ...

    async def transaction_count(self, block: str) -> int:
        """The account's transaction count at ``latest`` or ``pending``."""
        ...

    async def broadcast(self, tx: SignedTx) -> SendResult:
        """Submit ``tx``; :class:`~aggregator.errors.RpcUnavailableError` when the node
        could not be reached, another :class:`ChainError` when it refused the transaction."""
        ...

    async def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction, pending or included."""
        ...

    async def void_tx(self, nonce: int) -> SignedTx:
        """A zero-value transfer to the account itself with ``nonce``, to spend it."""
        ...


@runtime_checkable
class NonceSource(Protocol):
    """The one place an account's nonces come from (see the module docstring)."""

    async def send(self, account: AccountChain, sign: Signer, *, label: str = "") -> SignedTx:
        """Sign with the account's next nonce and broadcast, under the account's lock.

        ``label`` says what the transaction is, for the record (``evm_amm:alpha swap``).
        """
        ...

    async def confirm(self, account: AccountChain, tx_hash: str) -> None:
        """The transaction's receipt is in: the source may forget it."""
        ...


def nonce_source_from(extras: Mapping[str, Any]) -> NonceSource | None:
    """The :class:`NonceSource` a connector's context carries, if any."""
    source = extras.get(NONCE_SOURCE)
    if source is None:
        return None
    if not isinstance(source, NonceSource):
        raise TypeError(f"extras[{NONCE_SOURCE!r}] is a {type(source).__name__}, not a NonceSource")
    return source


class LocalNonces:
    """Nonces counted in memory from the chain's pending count (one sender per account).

    A transaction the node refuses leaves its nonce unused: the next one re-reads
    the pending count.
    """

    def __init__(self) -> None:
        self._next: dict[tuple[int, str], int] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def send(self, account: AccountChain, sign: Signer, *, label: str = "") -> SignedTx:
        key = (account.chain_id, account.address.lower())
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            nonce = self._next.get(key)
            if nonce is None:
                nonce = await account.transaction_count("pending")
            signed = sign(nonce)
            try:
                result = await account.broadcast(signed)
            except ChainError:
                self._next.pop(key, None)
                raise
            if result is SendResult.NONCE_USED and not await account.transaction_known(
                signed.hash.to_0x_hex()
            ):
                self._next.pop(key, None)
                raise ChainError(
                    "the nonce is used by a transaction from outside this process",
                    chain=account.chain_key,
                    nonce=nonce,
                )
            self._next[key] = nonce + 1
            return signed

    async def confirm(self, account: AccountChain, tx_hash: str) -> None:
        return None
