"""Raw JSON-RPC reads: the head, and every pool's reserves at one block in one batch.

No web3 middleware sits on this path: each read is one aiohttp POST of a
JSON-RPC array over a keep-alive session (see :func:`aggregator.chain.rpc.rpc_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from aggregator.chain.rpc import RpcCall, rpc_batch
from aggregator.errors import ChainError
from aggregator.models.market import Market
from connectors.evm_amm import abi

__all__ = ["BlockReader", "BlockState", "PoolRef"]


@dataclass(frozen=True)
class PoolRef:
    """A configured pool resolved against the chain at start."""

    market: Market
    address: str
    base_token: str
    quote_token: str
    base_is_token0: bool
    base_decimals: int
    quote_decimals: int

    def token_in(self, base_in: bool) -> str:
        return self.base_token if base_in else self.quote_token


@dataclass(frozen=True)
class BlockState:
    """One block's header fields and the reserves of every pool at that block."""

    number: int
    timestamp: int
    """Block timestamp, seconds (chain clock)."""
    base_fee_wei: int
    priority_fee_wei: int
    reserves: tuple[tuple[int, int], ...]
    """Per pool, in reader order: (base reserve, quote reserve)."""


class BlockReader:
    """Batched reads for one chain's pools."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        request_timeout: float,
        priority_fee_wei: int | None,
    ) -> None:
        self.url = url
        self._session = session
        self._timeout = request_timeout
        self._priority_fee = priority_fee_wei
        self.pools: tuple[PoolRef, ...] = ()

    async def batch(self, calls: Sequence[RpcCall]) -> list[Any]:
        return await rpc_batch(
            self.url, calls, session=self._session, request_timeout=self._timeout
        )

    async def block_number(self) -> int:
        (result,) = await self.batch([RpcCall("eth_blockNumber", [])])
        return int(str(result), 16)

    async def chain_id(self) -> int:
        (result,) = await self.batch([RpcCall("eth_chainId", [])])
        return int(str(result), 16)

    async def pool_layout(self, address: str) -> tuple[str, str, int]:
        """token0, token1 and feeBps of a pool, in one batch."""
        calls = [
            RpcCall("eth_call", [{"to": address, "data": sel}, "latest"])
            for sel in (abi.TOKEN0, abi.TOKEN1, abi.FEE_BPS)
        ]
        t0, t1, fee = await self.batch(calls)
        what = f"pool {address}"
        return (
            abi.decode_address(t0, what),
            abi.decode_address(t1, what),
            abi.decode_uint(fee, what),
        )

    async def read(self, number: int, pools: Sequence[PoolRef] | None = None) -> BlockState:
        """Header and reserves of ``pools`` (default: all) at block ``number``, one batch."""
        chosen = self.pools if pools is None else tuple(pools)
        tag = hex(number)
        calls = [RpcCall("eth_getBlockByNumber", [tag, False])]
        calls += [
            RpcCall("eth_call", [{"to": p.address, "data": abi.GET_RESERVES}, tag]) for p in chosen
        ]
        if self._priority_fee is None:
            calls.append(RpcCall("eth_maxPriorityFeePerGas", []))
        results = await self.batch(calls)
        header = results[0]
        if not isinstance(header, dict):
            raise ChainError(f"block {number} is unknown to the node", block=number)
        reserves = []
        for pool, raw in zip(chosen, results[1 : 1 + len(chosen)], strict=True):
            r0, r1 = abi.decode_uints(raw, 2, f"getReserves of {pool.address} at {number}")
            reserves.append((r0, r1) if pool.base_is_token0 else (r1, r0))
        tip = self._priority_fee
        if tip is None:
            tip = int(str(results[-1]), 16)
        return BlockState(
            number=int(header["number"], 16),
            timestamp=int(header["timestamp"], 16),
            base_fee_wei=int(header.get("baseFeePerGas") or "0x0", 16),
            priority_fee_wei=tip,
            reserves=tuple(reserves),
        )
