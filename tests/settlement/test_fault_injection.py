"""Acceptance: the coordinator process is SIGKILLed at every step boundary and restarted.

For each boundary (a transition persisted; a transaction broadcast before its
receipt is recorded) a coordinator process runs with ``AGGREGATOR_CRASH_AT``
set to it until it kills itself there; the next one is started with the next
boundary. Swaps keep arriving and traders keep claiming meanwhile. In the end
every swap is settled on both sides (claimed, or refunded), every resolver
transaction was signed once (the chains' nonces advanced by exactly the
transactions on record) and every swap has exactly one lock per side.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from aggregator.client.trader import TraderOutcome, TraderResult
from aggregator.devnet.control import increase_time
from aggregator.devnet.manifest import DevnetManifest
from aggregator.settlement.crash import CRASH_ENV
from aggregator.settlement.service import SwapTicket
from aggregator.settlement.swap import SwapPhase, TxKind
from aggregator.settlement.terms import LOCKED_TOPIC
from tests.settlement.harness import Stack, settlement_stack
from tests.settlement.quotes import fixed_rate_quote

pytestmark = [pytest.mark.devnet, pytest.mark.slow]

HAPPY_BOUNDARIES = [
    "source_locked:after_persist",
    "destination_locking:after_persist",
    "destination_lock:after_broadcast",
    "destination_locked:after_persist",
    "source_claiming:after_persist",
    "source_claim:after_broadcast",
    "completed:after_persist",
]
REFUND_DESTINATION = [
    "destination_refunding:after_persist",
    "destination_refund:after_broadcast",
    "awaiting_source_refund:after_persist",
]
REFUND_SOURCE = [
    "source_refunding:after_persist",
    "source_refund:after_broadcast",
    "refunded:after_persist",
]


class CoordinatorProcess:
    """``python -m aggregator.settlement`` with an optional crash point."""

    def __init__(self, devnet_dir: Path, redis_url: str, log_dir: Path, stack: Stack) -> None:
        self.stack = stack
        self.devnet_dir = devnet_dir
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.runs = 0

    def _config(self) -> Path:
        path = self.log_dir / "settlement.toml"
        policy = self.stack.config.timelocks
        lines = ["[timelocks]"] + [f"{k} = {v}" for k, v in policy.model_dump().items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, crash_at: str | None) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.pop(CRASH_ENV, None)
        if crash_at is not None:
            env[CRASH_ENV] = crash_at
        self.runs += 1
        log = open(self.log_dir / f"coordinator-{self.runs}.log", "wb")
        argv = [sys.executable, "-m", "aggregator.settlement"]
        argv += ["--devnet-dir", str(self.devnet_dir), "--redis", self.redis_url]
        argv += ["--lease-ttl-ms", "800", "--poll-interval", "0.005", "--confirmations", "2"]
        argv += ["--config", str(self._config())]
        return subprocess.Popen(argv, env=env, stdout=log, stderr=log)

    async def crash_at(
        self,
        point: str,
        feed: Callable[[], Awaitable[None]] | None = None,
        limit_s: float = 40.0,
    ) -> None:
        """Run until the process kills itself at ``point``; fail if it never gets there.

        ``feed`` adds a swap now and again while waiting (a swap may pass a boundary
        that only sometimes exists, like waiting for a second confirmation).
        """
        proc = self.start(point)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        next_feed = loop.time()
        try:
            while proc.poll() is None:
                if feed is not None and loop.time() >= next_feed:
                    await feed()
                    next_feed = loop.time() + 5.0
                if loop.time() > deadline:
                    swaps = await self.stack.service.list_swaps()
                    phases = [(s.id[:10], s.phase.value, s.pending) for s in swaps]
                    raise AssertionError(f"crash point {point} never reached: {phases}")
                await asyncio.sleep(0.02)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -9, f"{point}: exited with {proc.returncode}"
        text = (self.log_dir / f"coordinator-{self.runs}.log").read_text()
        assert f"crash point {point}" in text


async def _open(stack: Stack, amount: int) -> tuple[str, SwapTicket]:
    quote = fixed_rate_quote(
        amount_in=amount,
        rate=Decimal("0.0003"),
        sell=("USDC", "alpha"),
        buy=("WETH", "beta"),
        timelocks=stack.plan("alpha", "beta"),
    )
    await stack.put(quote)
    entry, ticket = await stack.trader.open(quote, stack.service)
    return entry.preimage, ticket


async def _warp_past(stack: Stack, devnet: DevnetManifest, chain: str, timestamp: int) -> None:
    await increase_time(devnet.chain(chain).rpc_url, timestamp - await stack.chain_time(chain) + 1)


async def _resolver_txs(redis: Redis, chain_id: int) -> int:
    return len([k async for k in redis.scan_iter(match=f"settle:tx:{chain_id}:*")])


async def test_killed_at_every_boundary_and_restarted_every_swap_settles_once(
    devnet_snapshot: DevnetManifest,
    devnet_state_dir: Path,
    redis_url: str,
    tmp_path: Path,
) -> None:
    devnet = devnet_snapshot
    resolver = devnet.accounts.resolver.address
    async with settlement_stack(devnet, redis_url, tmp_path) as stack:
        proc = CoordinatorProcess(devnet_state_dir, redis_url, tmp_path, stack)
        nonces_before = {
            c.key: await stack.clients[c.key].nonce(resolver, "latest") for c in devnet.chains
        }
        # happy path: fresh swaps (locked, claimed once delivered) for every boundary; the
        # coordinator waits for two confirmations, so a lock is first seen not yet final
        traders: list[asyncio.Task[TraderResult]] = []

        async def feed() -> None:
            quote = fixed_rate_quote(
                amount_in=1_000_000_000 + len(traders),
                rate=Decimal("0.0003"),
                timelocks=stack.plan("alpha", "beta"),
            )
            await stack.put(quote)
            traders.append(asyncio.create_task(stack.trader.swap(quote, stack.service)))

        for point in HAPPY_BOUNDARIES:
            await proc.crash_at(point, feed)
        final = proc.start(None)
        try:
            results = await asyncio.wait_for(asyncio.gather(*traders), timeout=60)
            assert [r.outcome for r in results] == [TraderOutcome.CLAIMED] * len(results)
            happy = await stack.wait_terminal([r.ticket.swap.id for r in results])
        finally:
            final.terminate()
            final.wait()
        assert {s.phase for s in happy} == {SwapPhase.COMPLETED}

        # refund path: traders lock and never claim; the clocks are moved past T_B, then T_A
        opened = [await _open(stack, 2_000_000_000 + i) for i in range(4)]
        for _, ticket in opened:
            await stack.trader.lock(ticket)
        ids = [t.swap.id for _, t in opened]
        running = proc.start(None)
        try:
            for swap_id in ids:
                await stack.wait_phase(swap_id, [SwapPhase.DESTINATION_LOCKED])
        finally:
            running.terminate()
            running.wait()
        latest_b = max(t.destination.timelock for _, t in opened)
        await _warp_past(stack, devnet, "beta", latest_b)
        for point in REFUND_DESTINATION:
            await proc.crash_at(point)
        latest_a = max(t.lock.terms.timelock for _, t in opened)
        await _warp_past(stack, devnet, "alpha", latest_a)
        for point in REFUND_SOURCE:
            await proc.crash_at(point)
        final = proc.start(None)
        try:
            refunded = await stack.wait_terminal(ids)
        finally:
            final.terminate()
            final.wait()
        assert {s.phase for s in refunded} == {SwapPhase.REFUNDED}

        # exactly one destination lock per swap, and every step sent once
        for swap in happy:
            assert [t.kind for t in swap.txs] == [TxKind.DESTINATION_LOCK, TxKind.SOURCE_CLAIM]
        for swap in refunded:
            assert [t.kind for t in swap.txs] == [
                TxKind.DESTINATION_LOCK,
                TxKind.DESTINATION_REFUND,
                TxKind.SOURCE_REFUND,
            ]
        beta = devnet.chain("beta")
        for swap in [*happy, *refunded]:
            logs = await stack.clients["beta"].logs(
                beta.htlc,
                beta.deploy_block,
                (await stack.clients["beta"].head()).number,
                [LOCKED_TOPIC, None, swap.source.hashlock],
            )
            assert len(logs) == 1, swap.id
        # the chain saw exactly the transactions on record: none signed twice, none lost
        for chain in devnet.chains:
            now = await stack.clients[chain.key].nonce(resolver, "latest")
            sent = now - nonces_before[chain.key]
            assert sent == await _resolver_txs(stack.redis, chain.chain_id), chain.key
        assert proc.runs == len(HAPPY_BOUNDARIES) + len(REFUND_DESTINATION) + len(REFUND_SOURCE) + 3
