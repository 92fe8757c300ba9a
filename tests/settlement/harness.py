"""An in-process settlement stack on the devnet: coordinator, service and trader."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aggregator.client.trader import TraderClient
from aggregator.client.vault import SecretVault
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import SwapNotFoundError
from aggregator.models.quote import Quote
from aggregator.models.timelocks import TimelockPolicy, timelock_plan
from aggregator.settlement.chain import AccountSender, ChainClient, RpcCounter, new_session
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.quotes import QuoteStore
from aggregator.settlement.service import SettlementService
from aggregator.settlement.swap import Swap, SwapPhase

_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_MINT = keccak(text="mint(address,uint256)")[:4]

TEST_TIMELOCKS = TimelockPolicy(
    resolver_reaction_s=5,
    clock_skew_s=5,
    margin_s=5,
    min_destination_window_s=30,
    inclusion_blocks=2,
)
"""Short but safe: T_B about 35 s, T_A about 55 s, plus the 60 s lock window on both."""


@dataclass
class Stack:
    manifest: DevnetManifest
    config: SettlementConfig
    redis: Redis
    session: aiohttp.ClientSession
    service: SettlementService
    quotes: QuoteStore
    trader: TraderClient
    clients: dict[str, ChainClient]
    coordinator: Coordinator | None = None
    counter: RpcCounter = field(default_factory=RpcCounter)
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    async def put(self, quote: Quote) -> Quote:
        await self.quotes.put(quote)
        return quote

    def plan(self, source: str, destination: str) -> tuple[int, int]:
        """(T_A, T_B) durations the router would quote between these chains."""
        plan = timelock_plan(
            self.config.timelocks,
            self.config.chain(source).timing(),
            self.config.chain(destination).timing(),
        )
        return plan.source_timelock_s, plan.destination_timelock_s

    async def start_coordinator(self, *, rebuild: bool = False, **kwargs: Any) -> Coordinator:
        """An in-process coordinator. Unless ``rebuild``, this test's Redis counts as
        holding the whole state, so swaps other tests left on the shared chains are not
        rebuilt into it."""
        coordinator = Coordinator(
            self.config, self.redis, self.manifest.accounts.resolver.local_account(), **kwargs
        )
        if not rebuild:
            await coordinator.store.mark_initialized()
        await coordinator.start()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(coordinator.run(self._stop))
        self.coordinator = coordinator
        return coordinator

    async def stop_coordinator(self) -> None:
        if self._stop is not None and self._task is not None and self.coordinator is not None:
            self._stop.set()
            await self._task
            await self.coordinator.close()
        self._stop = self._task = None
        self.coordinator = None

    async def fresh_trader(self, state_dir: Path, whole_tokens: int = 1_000_000) -> TraderClient:
        """A new trader account of its own, funded on every chain (native coin and tokens
        minted by the deployer), so its balances move only with this test's swaps."""
        account = Account.create()
        deployer = self.manifest.accounts.deployer.local_account()
        for chain in self.manifest.chains:
            client = self.clients[chain.key]
            await client.call("anvil_setBalance", account.address, hex(10**21))
            minter = AccountSender(client, deployer)
            for token in chain.tokens.values():
                amount = whole_tokens * 10**token.decimals
                data = _MINT + encode(["address", "uint256"], [account.address, amount])
                receipt = await minter.transact(token.address, data, gas=100_000)
                assert receipt.status == 1
        chains = {c.key: c for c in self.config.chains}
        return TraderClient(
            account,
            chains,
            SecretVault(state_dir),
            self.session,
            counter=self.counter,
            expected_resolver=self.manifest.accounts.resolver.address,
        )

    async def token_balance(self, chain: str, asset: str, owner: str) -> int:
        token = self.config.chain(chain).tokens[asset]
        raw = await self.clients[chain].eth_call(token, _BALANCE_OF + encode(["address"], [owner]))
        return int.from_bytes(raw, "big")

    async def balances(self, owners: Iterable[str]) -> dict[tuple[str, str, str], int]:
        """(chain, asset, owner) -> balance, for every token on every chain."""
        out: dict[tuple[str, str, str], int] = {}
        for chain in self.config.chains:
            for asset in chain.tokens:
                for owner in owners:
                    out[(chain.key, asset, owner)] = await self.token_balance(
                        chain.key, asset, owner
                    )
        return out

    async def wait_phase(
        self, swap_id: str, phases: Iterable[SwapPhase], limit_s: float = 30.0
    ) -> Swap:
        wanted = set(phases)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            swap = await self._get(swap_id)
            if swap is not None and swap.phase in wanted:
                return swap
            if loop.time() > deadline:
                phase = "nowhere" if swap is None else swap.phase.value
                raise AssertionError(f"swap {swap_id[:10]} stuck in {phase}")
            await asyncio.sleep(0.02)

    async def _get(self, swap_id: str) -> Swap | None:
        """The swap, or None while it is missing (Redis lost it and it is being rebuilt)."""
        try:
            return await self.service.get_swap(swap_id)
        except (SwapNotFoundError, RedisError):
            return None

    async def chain_time(self, chain: str) -> int:
        return (await self.clients[chain].head()).timestamp

    async def wait_terminal(self, swap_ids: Iterable[str], limit_s: float = 60.0) -> list[Swap]:
        ids = list(swap_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            found = [await self._get(i) for i in ids]
            swaps = [s for s in found if s is not None]
            if len(swaps) == len(ids) and all(s.terminal for s in swaps):
                return swaps
            if loop.time() > deadline:
                phases = {s.id[:10]: s.phase.value for s in swaps if not s.terminal}
                raise AssertionError(f"swaps not terminal in time: {phases}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def settlement_stack(
    manifest: DevnetManifest, redis_url: str, state_dir: Path, **overrides: Any
) -> AsyncIterator[Stack]:
    options: dict[str, Any] = {
        "poll_interval_s": 0.005,
        "lease_ttl_ms": 3_000,
        "timelocks": TEST_TIMELOCKS,
    }
    options.update(overrides)
    config = SettlementConfig.from_manifest(manifest, **options)
    redis = Redis.from_url(redis_url)
    session = new_session()
    counter = RpcCounter()
    service = SettlementService(
        config, redis, manifest.accounts.resolver.address, session=session, counter=counter
    )
    chains = {c.key: c for c in config.chains}
    trader = TraderClient(
        manifest.accounts.trader.local_account(),
        chains,
        SecretVault(state_dir),
        session,
        counter=counter,
        expected_resolver=manifest.accounts.resolver.address,
    )
    clients = {c.key: ChainClient(c.key, c.chain_id, c.rpc_url, session) for c in config.chains}
    stack = Stack(
        manifest, config, redis, session, service, service.quotes, trader, clients, counter=counter
    )
    try:
        yield stack
    finally:
        await stack.stop_coordinator()
        await session.close()
        await redis.aclose()
