"""Redis key layout of the settlement state (one place, so nothing collides)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True)
class Keys:
    """Every Redis key the settlement engine uses, under one prefix."""

    prefix: str = "settle"

    def swap(self, swap_id: str) -> str:
        return f"{self.prefix}:swap:{swap_id}"

    @property
    def active(self) -> str:
        """SET of swap ids that are not terminal."""
        return f"{self.prefix}:active"

    def phase(self, phase: str) -> str:
        """ZSET of swap ids in a phase, scored by creation time."""
        return f"{self.prefix}:phase:{phase}"

    def hashlock(self, hashlock: str) -> str:
        """The swap id a hashlock belongs to (a hashlock serves one swap only)."""
        return f"{self.prefix}:hashlock:{hashlock}"

    def lease(self, swap_id: str) -> str:
        return f"{self.prefix}:lease:{swap_id}"

    def tx(self, chain_id: int, tx_hash: str) -> str:
        """A signed transaction, persisted before it is broadcast."""
        return f"{self.prefix}:tx:{chain_id}:{tx_hash}"

    def nonce(self, chain_id: int, address: str) -> str:
        """The next nonce of an account on a chain."""
        return f"{self.prefix}:nonce:{chain_id}:{address.lower()}"

    def unconfirmed(self, chain_id: int, address: str) -> str:
        """ZSET of an account's persisted transactions without a recorded receipt, by nonce."""
        return f"{self.prefix}:unconfirmed:{chain_id}:{address.lower()}"

    def legs(self, swap_id: str) -> str:
        """LIST of the swap's executed trade legs (JSON)."""
        return f"{self.prefix}:legs:{swap_id}"

    def plan(self, swap_id: str) -> str:
        """The quoted paths of the swap (JSON), for the trade legs to run after delivery."""
        return f"{self.prefix}:plan:{swap_id}"

    def legs_started(self, swap_id: str) -> str:
        return f"{self.prefix}:legs-started:{swap_id}"

    @property
    def meta(self) -> str:
        """HASH marking that this Redis holds settlement state (absent after a loss)."""
        return f"{self.prefix}:meta"
