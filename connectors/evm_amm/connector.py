"""The EVM AMM connector: one instance per chain, every configured pool.

Composed of a :class:`~connectors.evm_amm.reader.BlockReader` (batched raw
JSON-RPC), a :class:`~connectors.evm_amm.follower.ChainFollower` (new heads,
failure and recovery) and, with an executor key, a
:class:`~connectors.evm_amm.executor.SwapExecutor`. ``liquidity()`` and
``chain_state()`` only read memory: no RPC call happens while a quote is
computed.

The executor's transactions take their nonces from the
:class:`~aggregator.chain.nonces.NonceSource` found in the context's extras
under :data:`~aggregator.chain.nonces.NONCE_SOURCE`, when the process has other
senders of the same account (the service passes the settlement's); without
one, the executor counts them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import aiohttp

from aggregator.chain.nonces import nonce_source_from
from aggregator.errors import (
    ChainError,
    ConfigError,
    NotFoundError,
    StaleSourceError,
    UnknownAssetError,
)
from aggregator.market.snapshot import ChainState
from aggregator.models.assets import AssetAt, Location
from aggregator.models.liquidity import AmmCurve
from aggregator.models.market import Market, MarketKind
from aggregator.plugins.protocol import (
    Capabilities,
    Capability,
    ConnectorContext,
    ExecutionRequest,
    ExecutionResult,
    Health,
    HealthStatus,
    LiquidityUpdate,
)
from connectors.evm_amm.config import EvmAmmConfig, PoolConfig
from connectors.evm_amm.executor import SwapExecutor
from connectors.evm_amm.follower import ChainFollower
from connectors.evm_amm.reader import BlockReader, BlockState, PoolRef

__all__ = ["EvmAmmConnector"]

_QUEUE_SIZE = 10_000
_NS = 1_000_000_000


class EvmAmmConnector:
    """Constant-product pools of one EVM chain, followed block by block."""

    def __init__(self, config: EvmAmmConfig, context: ConnectorContext) -> None:
        self.name = context.instance_name
        self.config = config
        self._registry = context.registry
        self._nonces = nonce_source_from(context.extras)
        self.location = Location.chain(config.chain, config.chain_id)
        self._markets: dict[str, Market] = {}
        for pool in config.pools:
            market = self._market(pool)
            self._markets[market.id] = market
        self._pool_configs = {f"{config.chain}:{p.address}": p for p in config.pools}
        self._pools: dict[str, PoolRef] = {}
        self._curves: dict[str, AmmCurve] = {}
        self._chain_state: ChainState | None = None
        self._subscribers: set[asyncio.Queue[LiquidityUpdate | None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._reader: BlockReader | None = None
        self._follower: ChainFollower | None = None
        self._executor: SwapExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    def _market(self, pool: PoolConfig) -> Market:
        for asset in (pool.base, pool.quote):
            self._registry.asset(asset)
        quote_decimals = self._registry.decimals(pool.quote)
        return Market(
            id=f"{self.config.chain}:{pool.address}",
            venue=self.name,
            kind=MarketKind.AMM,
            location=self.location,
            base=AssetAt(asset=pool.base, location=self.location),
            quote=AssetAt(asset=pool.quote, location=self.location),
            symbol=f"{pool.base}/{pool.quote}",
            tick_size=Decimal(1).scaleb(-quote_decimals),
            lot_size=1,
            min_size=1,
            fee_bps=pool.fee_bps,
            address=pool.address,
        )

    def _token(self, configured: str | None, asset: str) -> str | None:
        if configured is not None:
            return configured
        try:
            return self._registry.token(asset, self.config.chain).address
        except UnknownAssetError:
            return None

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Open the session and start following; a node that is down now is retried.

        A pool that contradicts its config (tokens, fee, chain id) is a
        :class:`~aggregator.errors.ConfigError` raised here.
        """
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=8, keepalive_timeout=30)
        )
        self._reader = BlockReader(
            self.config.rpc_url,
            self._session,
            request_timeout=self.config.request_timeout_s,
            priority_fee_wei=self.config.priority_fee_wei,
        )
        key = self.config.executor_private_key
        if key is not None:
            self._executor = SwapExecutor(
                self._reader,
                key.get_secret_value(),
                self.config.receipt_timeout_s,
                chain_key=self.config.chain,
                chain_id=self.config.chain_id,
                nonces=self._nonces,
            )
        self._follower = ChainFollower(
            self._reader,
            poll_s=self.config.poll_s,
            backoff_initial_s=self.config.backoff_initial_s,
            backoff_max_s=self.config.backoff_max_s,
            on_block=self._on_block,
            prepare=self._resolve_pools,
        )
        try:
            await self._follower.poll_once()
        except ChainError:
            pass  # the node may be down at start: the loop retries and health says why
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._follower.run(), name=f"evm_amm:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            await self._executor.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._follower = None
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    async def _resolve_pools(self) -> None:
        """Check the chain id, and read each pool's tokens and fee to orient it."""
        assert self._reader is not None
        chain_id = await self._reader.chain_id()
        if chain_id != self.config.chain_id:
            raise ConfigError(
                f"{self.config.rpc_url} is chain {chain_id}, configured as {self.config.chain_id}",
                instance=self.name,
            )
        refs = []
        for market_id, pool in self._pool_configs.items():
            token0, token1, fee = await self._reader.pool_layout(pool.address)
            base = self._token(pool.base_token, pool.base)
            quote = self._token(pool.quote_token, pool.quote)
            t0, t1 = token0.lower(), token1.lower()
            if base is None or quote is None:
                raise ConfigError(
                    f"pool {pool.address}: no token address for {pool.base} or {pool.quote} "
                    f"on {self.config.chain}; set base_token/quote_token",
                    instance=self.name,
                )
            if {base.lower(), quote.lower()} != {t0, t1}:
                raise ConfigError(
                    f"pool {pool.address} holds {token0}/{token1}, not the configured "
                    f"{pool.base} {base} / {pool.quote} {quote}",
                    instance=self.name,
                )
            if fee != pool.fee_bps:
                raise ConfigError(
                    f"pool {pool.address} charges {fee} bps, configured {pool.fee_bps}",
                    instance=self.name,
                )
            refs.append(
                PoolRef(
                    market=self._markets[market_id],
                    address=pool.address,
                    base_token=base,
                    quote_token=quote,
                    base_is_token0=base.lower() == t0,
                    base_decimals=self._registry.decimals(pool.base),
                    quote_decimals=self._registry.decimals(pool.quote),
                )
            )
        self._reader.pools = tuple(refs)
        self._pools = {r.market.id: r for r in refs}

    # -- market data -----------------------------------------------------------

    def markets(self) -> Sequence[Market]:
        return tuple(self._markets.values())

    def liquidity(self, market_id: str) -> AmmCurve | None:
        return self._curves.get(market_id)

    def chain_state(self) -> ChainState:
        """Head, head time, gas and confirmation depth as last seen (memory only)."""
        if self._chain_state is None:
            raise StaleSourceError(f"{self.name} has not seen a block yet", chain=self.config.chain)
        return self._chain_state

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        queue: asyncio.Queue[LiquidityUpdate | None] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            while True:
                update = await queue.get()
                if update is None:
                    return
                yield update
        finally:
            self._subscribers.discard(queue)

    async def fetch_liquidity(self, market_id: str) -> AmmCurve:
        """The pool read now at the latest block, bypassing the follower."""
        pool = self._pool(market_id)
        assert self._reader is not None
        number = await self._reader.block_number()
        state = await self._reader.read(number, [pool])
        curve = self._curve(pool, state, 0, time.time_ns())
        return AmmCurve.model_validate(curve.model_dump())

    def health(self) -> Health:
        now = time.time_ns()
        follower = self._follower
        head = follower.head if follower else None
        recv = follower.head_recv_ns if follower else None
        age = None if recv is None else now - recv
        if follower is None or self._task is None:
            status, reason = HealthStatus.STOPPED, "not running"
        elif follower.error is not None:
            status = HealthStatus.STALE
            error = follower.error
            reason = f"RPC failing ({follower.failures}x): [{error.code}] {error.message}"
        elif head is None or follower.head_mono is None:
            status, reason = HealthStatus.STARTING, "waiting for the first block"
        else:
            quiet = time.monotonic() - follower.head_mono
            limit = self.config.stale_after_blocks * self.config.block_time_s
            if quiet > limit:
                status, reason = HealthStatus.STALE, f"no new block for {quiet:.1f} s"
            else:
                status, reason = HealthStatus.HEALTHY, None
        return Health(
            connector=self.name,
            status=status,
            reason=reason,
            last_update_ns=recv,
            last_sequence=None if head is None else head.number,
            age_ns=age,
        )

    def capabilities(self) -> Capabilities:
        supported = {Capability.AMM, Capability.STREAM, Capability.STALENESS}
        unsupported = {Capability.BOOKS: "constant-product pools have no order book"}
        if self.config.executor_private_key is not None:
            supported |= {Capability.EXECUTE, Capability.BALANCES}
        else:
            reason = "no executor_private_key configured"
            unsupported |= {Capability.EXECUTE: reason, Capability.BALANCES: reason}
        return Capabilities(supported=frozenset(supported), unsupported=unsupported)

    # -- execution -------------------------------------------------------------

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        pool = self._pool(request.market_id)
        if self._executor is None:
            raise ConfigError(f"{self.name} has no executor key", instance=self.name)
        return await self._executor.execute(pool, request)

    async def balances(self) -> dict[str, int]:
        """The executor's token balances by canonical asset (base units)."""
        if self._executor is None:
            raise ConfigError(f"{self.name} has no executor key", instance=self.name)
        return await self._executor.balances(tuple(self._pools.values()))

    @property
    def executor_address(self) -> str | None:
        return None if self._executor is None else self._executor.address

    # -- internals -------------------------------------------------------------

    def _pool(self, market_id: str) -> PoolRef:
        pool = self._pools.get(market_id)
        if pool is None:
            if market_id in self._markets:
                raise StaleSourceError(f"{market_id} is not resolved yet", market_id=market_id)
            raise NotFoundError(f"{self.name} has no market {market_id!r}", market_id=market_id)
        return pool

    def _curve(self, pool: PoolRef, state: BlockState, index: int, recv: int) -> AmmCurve:
        reserve_base, reserve_quote = state.reserves[index]
        return AmmCurve.model_construct(
            market_id=pool.market.id,
            pool=pool.address,
            reserve_base=reserve_base,
            reserve_quote=reserve_quote,
            fee_bps=pool.market.fee_bps,
            base_decimals=pool.base_decimals,
            quote_decimals=pool.quote_decimals,
            sequence=state.number,
            ts_event=state.timestamp * _NS,
            ts_recv=recv,
        )

    def _on_block(self, state: BlockState, recv: int) -> None:
        assert self._reader is not None
        updates = []
        for index, pool in enumerate(self._reader.pools):
            curve = self._curve(pool, state, index, recv)
            self._curves[pool.market.id] = curve
            updates.append(
                LiquidityUpdate.model_construct(market_id=pool.market.id, liquidity=curve)
            )
        self._chain_state = ChainState.model_construct(
            key=self.config.chain,
            chain_id=self.config.chain_id,
            head=state.number,
            head_time=state.timestamp,
            block_time_s=self.config.block_time_s,
            confirmations=self.config.confirmations,
            base_fee_wei=state.base_fee_wei,
            priority_fee_wei=state.priority_fee_wei,
            native_asset=self.config.native_asset,
            ts_recv=recv,
        )
        for queue in self._subscribers:
            for update in updates:
                if queue.full():
                    queue.get_nowait()  # a slow reader loses its oldest update, never the feed
                queue.put_nowait(update)
