"""Follows one chain's HashedTimelock: every Locked, Claimed and Refunded event, reorg-aware.

Each :meth:`HtlcWatcher.poll` reads the head (one request when nothing
changed); when it moved, it checks that the last block it indexed is still
canonical and fetches the new blocks' logs. If the last indexed block was
replaced (a reorg, or ``evm_revert`` on a dev node), everything indexed from
``reorg_window`` blocks back is dropped and read again, so a lock that left
the canonical chain leaves the index too.

The index answers what the state machine asks: the locks carrying a hashlock,
the state of a lock id, and the preimage its claim revealed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from aggregator.chain.rpc import RpcCall
from aggregator.settlement.chain import ChainClient, Head, parse_head
from aggregator.settlement.terms import (
    CLAIMED_TOPIC,
    LOCKED_TOPIC,
    REFUNDED_TOPIC,
    HtlcState,
    HtlcTerms,
    decode_lock_data,
)

__all__ = ["HtlcWatcher", "IndexedLock"]


@dataclass(frozen=True)
class IndexedLock:
    terms: HtlcTerms
    block: int
    tx_hash: str


@dataclass
class _Index:
    locks: dict[str, IndexedLock] = field(default_factory=dict)
    by_hashlock: dict[str, list[str]] = field(default_factory=dict)
    claims: dict[str, tuple[str, int]] = field(default_factory=dict)
    refunds: dict[str, int] = field(default_factory=dict)

    def drop_from(self, block: int) -> None:
        for swap_id in [i for i, lock in self.locks.items() if lock.block >= block]:
            lock = self.locks.pop(swap_id)
            ids = self.by_hashlock.get(lock.terms.hashlock, [])
            if swap_id in ids:
                ids.remove(swap_id)
        for swap_id in [i for i, (_, b) in self.claims.items() if b >= block]:
            del self.claims[swap_id]
        for swap_id in [i for i, b in self.refunds.items() if b >= block]:
            del self.refunds[swap_id]


def _address(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


class HtlcWatcher:
    """The event index of one chain's HashedTimelock (see the module docstring)."""

    def __init__(
        self,
        client: ChainClient,
        htlc: str,
        start_block: int,
        *,
        reorg_window: int = 64,
        max_range: int = 5_000,
    ) -> None:
        self.client = client
        self.htlc = to_checksum_address(htlc)
        self.start_block = start_block
        self.reorg_window = reorg_window
        self.max_range = max_range
        self.head: Head | None = None
        self._last: int = start_block - 1
        self._last_hash: str | None = None
        self._index = _Index()
        self.reorgs = 0

    @property
    def key(self) -> str:
        return self.client.key

    @property
    def last_indexed(self) -> int:
        return self._last

    async def poll(self) -> bool:
        """Bring the index up to the head; True when anything new was indexed.

        When the head moved on, the last indexed block's hash and the new logs are
        read in one request; a changed hash throws the logs away and rewinds.
        """
        head = await self.client.head()
        self.head = head
        if head.number == self._last and head.hash == self._last_hash:
            return False
        if self._last_hash is None:
            return await self._scan_to(head)
        if head.number <= self._last:
            self._rewind()
            await self._scan_to(head)
            return True
        hi = min(head.number, self._last + self.max_range)
        block, logs = await self.client.batch(
            [
                RpcCall("eth_getBlockByNumber", [hex(self._last), False]),
                RpcCall("eth_getLogs", [self._query(self._last + 1, hi)]),
            ]
        )
        if block is None or parse_head(block).hash != self._last_hash:
            self._rewind()
            await self._scan_to(head)
            return True
        for log in logs or []:
            self._apply(log)
        self._last = hi
        found = bool(logs)
        if hi < head.number:
            return await self._scan_to(head) or found
        self._last_hash = head.hash
        return found

    def _query(self, lo: int, hi: int) -> dict[str, Any]:
        return {"address": self.htlc, "fromBlock": hex(lo), "toBlock": hex(hi)}

    def _rewind(self) -> bool:
        self.reorgs += 1
        start = max(self.start_block, self._last - self.reorg_window)
        self._index.drop_from(start)
        self._last = start - 1
        self._last_hash = None
        return True

    async def _scan_to(self, head: Head) -> bool:
        found = False
        while self._last < head.number:
            lo = self._last + 1
            hi = min(head.number, lo + self.max_range - 1)
            [logs] = await self.client.batch([RpcCall("eth_getLogs", [self._query(lo, hi)])])
            logs = logs or []
            for log in logs:
                self._apply(log)
                found = True
            self._last = hi
        self._last_hash = head.hash
        return found

    def _apply(self, log: dict[str, Any]) -> None:
        if log.get("removed"):
            return
        topics = [str(t) for t in log["topics"]]
        block = int(log["blockNumber"], 16)
        swap_id = topics[1]
        if topics[0] == LOCKED_TOPIC:
            recipient, token, amount, timelock = decode_lock_data(bytes.fromhex(log["data"][2:]))
            terms = HtlcTerms(
                chain=self.client.key,
                chain_id=self.client.chain_id,
                htlc=self.htlc,
                sender=_address(topics[3]),
                recipient=recipient,
                token=token,
                amount=amount,
                hashlock=topics[2],
                timelock=timelock,
            )
            self._index.locks[swap_id] = IndexedLock(terms, block, str(log["transactionHash"]))
            ids = self._index.by_hashlock.setdefault(terms.hashlock, [])
            if swap_id not in ids:
                ids.append(swap_id)
        elif topics[0] == CLAIMED_TOPIC:
            self._index.claims[swap_id] = ("0x" + log["data"][2:66], block)
        elif topics[0] == REFUNDED_TOPIC:
            self._index.refunds[swap_id] = block

    # -- queries ------------------------------------------------------------

    def locks_with_hashlock(self, hashlock: str) -> list[IndexedLock]:
        return [self._index.locks[i] for i in self._index.by_hashlock.get(hashlock, [])]

    def lock(self, swap_id: str) -> IndexedLock | None:
        return self._index.locks.get(swap_id)

    def state(self, swap_id: str) -> HtlcState:
        if swap_id in self._index.claims:
            return HtlcState.CLAIMED
        if swap_id in self._index.refunds:
            return HtlcState.REFUNDED
        if swap_id in self._index.locks:
            return HtlcState.LOCKED
        return HtlcState.NONE

    def preimage(self, swap_id: str) -> str | None:
        claim = self._index.claims.get(swap_id)
        return None if claim is None else claim[0]

    def all_locks(self) -> Iterator[IndexedLock]:
        return iter(list(self._index.locks.values()))
