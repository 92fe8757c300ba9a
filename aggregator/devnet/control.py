"""Dev-node controls for tests and demos: time travel, mining, snapshots.

These call anvil's ``evm_*`` methods and only make sense on a devnet chain.
"""

from __future__ import annotations

from aggregator.chain.rpc import RpcCall, rpc_batch

__all__ = ["increase_time", "mine", "revert", "snapshot"]


async def increase_time(rpc_url: str, seconds: int) -> None:
    """Move the chain clock forward by ``seconds`` and mine one block carrying the new time."""
    await rpc_batch(rpc_url, [RpcCall("evm_increaseTime", [seconds]), RpcCall("evm_mine", [])])


async def mine(rpc_url: str, blocks: int = 1) -> None:
    """Mine ``blocks`` empty blocks now."""
    await rpc_batch(rpc_url, [RpcCall("evm_mine", []) for _ in range(blocks)])


async def snapshot(rpc_url: str) -> str:
    """Snapshot the chain state; returns the id :func:`revert` takes."""
    (snapshot_id,) = await rpc_batch(rpc_url, [RpcCall("evm_snapshot", [])])
    return str(snapshot_id)


async def revert(rpc_url: str, snapshot_id: str) -> bool:
    """Return the chain to a snapshot (which is consumed); ``False`` if it is unknown."""
    (reverted,) = await rpc_batch(rpc_url, [RpcCall("evm_revert", [snapshot_id])])
    return bool(reverted)
