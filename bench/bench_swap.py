"""End-to-end cross-chain swap on the devnet against the four-transaction floor.

Brings up its own devnet (three anvil chains) and redis-server on free loopback
ports, then measures, in the same run:

* the floor: a minimal HTLC swap over raw JSON-RPC with nothing else — trader
  locks on the source, resolver locks on the destination, trader claims,
  resolver claims — each a locally signed transaction followed by millisecond
  receipt polling; no state, no checks, no confirmations beyond inclusion;
* the system: the same swap through the trader client, the settlement service
  and a running coordinator (Redis state and outbox, CAS commits, every
  transaction on record before broadcast, term and timelock checks, the
  stateOf re-check at the confirmed height, log watching).

Latency is from the trader asking for the swap (the floor: its first lock) to
the trader's claim receipt, p50 and p99 over sequential swaps; RPC requests per
swap are HTTP requests to the chains (a raw batch counts once, idle polling
included); throughput is swaps settled per second for a burst of concurrent
swaps (the system batches destination locks into ``lockBatch``). The source
chain has a confirmation depth of 1 (final on inclusion) in both runs.

    .venv/bin/python bench/bench_swap.py [--swaps 40] [--burst 40]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from redis.asyncio import Redis

from aggregator.client.trader import TraderClient
from aggregator.client.vault import SecretVault
from aggregator.devnet import down, load_devnet_config, up
from aggregator.devnet.manifest import DevnetManifest
from aggregator.models import (
    AssetAt,
    CostBreakdown,
    Location,
    Quote,
    QuoteLeg,
    QuotePath,
    QuoteRequest,
    SettlementPlan,
)
from aggregator.models.timelocks import TimelockPolicy, timelock_plan
from aggregator.models.units import now_ns
from aggregator.settlement.chain import AccountSender, ChainClient, RpcCounter, new_session
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.service import SettlementService
from aggregator.settlement.terms import (
    HtlcTerms,
    approve_calldata,
    claim_calldata,
    lock_calldata,
)

SOURCE, DESTINATION = "alpha", "gamma"
AMOUNT_IN = 1_000 * 10**6  # USDC
AMOUNT_OUT = 3 * 10**17  # WETH
POLICY = TimelockPolicy(
    resolver_reaction_s=5, clock_skew_s=5, margin_s=5, min_destination_window_s=60
)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"redis://127.0.0.1:{port}/0"


def make_quote(config: SettlementConfig) -> Quote:
    src, dst = config.chain(SOURCE), config.chain(DESTINATION)
    sell = AssetAt(asset="USDC", location=Location.chain(src.key, src.chain_id))
    buy = AssetAt(asset="WETH", location=Location.chain(dst.key, dst.chain_id))
    plan = timelock_plan(POLICY, src.timing(), dst.timing())
    leg = QuoteLeg(
        kind="transfer",
        venue="inventory",
        location=buy.location,
        asset_in=sell,
        asset_out=buy,
        amount_in=AMOUNT_IN,
        amount_out=AMOUNT_OUT,
        share_bps=10_000,
    )
    created = now_ns()
    return Quote(
        id=uuid.uuid4().hex,
        request=QuoteRequest(sell=sell, buy=buy, amount=AMOUNT_IN, firm=True),
        amount_in=AMOUNT_IN,
        amount_out=AMOUNT_OUT,
        min_amount_out=AMOUNT_OUT,
        effective_price=Decimal("0.0003"),
        price_impact_bps=Decimal(0),
        paths=(
            QuotePath(legs=(leg,), amount_in=AMOUNT_IN, amount_out=AMOUNT_OUT, share_bps=10_000),
        ),
        costs=CostBreakdown(),
        settlement=SettlementPlan(
            source_chain=src.key,
            source_chain_id=src.chain_id,
            destination_chain=dst.key,
            destination_chain_id=dst.chain_id,
            source_timelock_s=plan.source_timelock_s,
            destination_timelock_s=plan.destination_timelock_s,
            eta_s=plan.eta_s,
        ),
        best_single_path_out=AMOUNT_OUT,
        improvement_bps=Decimal(0),
        excluded=(),
        created_ns=created,
        expires_ns=created + 120 * 10**9,
        snapshot_ns=created,
    )


# ---------------------------------------------------------------------------
# the floor


class Floor:
    """Four raw transactions per swap, nothing else."""

    def __init__(self, manifest: DevnetManifest, config: SettlementConfig, counter: RpcCounter):
        self.session = new_session()
        self.src_cfg, self.dst_cfg = config.chain(SOURCE), config.chain(DESTINATION)
        self.src = ChainClient(
            SOURCE, self.src_cfg.chain_id, self.src_cfg.rpc_url, self.session, counter
        )
        self.dst = ChainClient(
            DESTINATION, self.dst_cfg.chain_id, self.dst_cfg.rpc_url, self.session, counter
        )
        trader = manifest.accounts.trader.local_account()
        resolver = manifest.accounts.resolver.local_account()
        self.trader_src = AccountSender(self.src, trader)
        self.trader_dst = AccountSender(self.dst, trader)
        self.resolver_src = AccountSender(self.src, resolver)
        self.resolver_dst = AccountSender(self.dst, resolver)
        self.trader, self.resolver = trader.address, resolver.address

    async def prepare(self) -> None:
        # the timelocks are taken from a head read once: a floor swap reads nothing
        self.src_time = (await self.src.head()).timestamp
        self.dst_time = (await self.dst.head()).timestamp
        await self.dst.head()
        for sender, cfg in ((self.trader_src, self.src_cfg), (self.resolver_dst, self.dst_cfg)):
            token = cfg.tokens["USDC" if sender is self.trader_src else "WETH"]
            await sender.transact(token, approve_calldata(cfg.htlc), gas=100_000)

    async def swap(self) -> float:
        preimage = secrets.token_bytes(32)
        hashlock = "0x" + hashlib.sha256(preimage).hexdigest()
        a = HtlcTerms(
            chain=SOURCE,
            chain_id=self.src_cfg.chain_id,
            htlc=self.src_cfg.htlc,
            sender=self.trader,
            recipient=self.resolver,
            token=self.src_cfg.tokens["USDC"],
            amount=AMOUNT_IN,
            hashlock=hashlock,
            timelock=self.src_time + 3_600,
        )
        b = HtlcTerms(
            chain=DESTINATION,
            chain_id=self.dst_cfg.chain_id,
            htlc=self.dst_cfg.htlc,
            sender=self.resolver,
            recipient=self.trader,
            token=self.dst_cfg.tokens["WETH"],
            amount=AMOUNT_OUT,
            hashlock=hashlock,
            timelock=self.dst_time + 1_800,
        )
        started = time.perf_counter()
        await self.trader_src.transact(a.htlc, lock_calldata(a), gas=200_000)
        await self.resolver_dst.transact(b.htlc, lock_calldata(b), gas=200_000)
        await self.trader_dst.transact(
            b.htlc, claim_calldata(b, "0x" + preimage.hex()), gas=150_000
        )
        elapsed = time.perf_counter() - started
        await self.resolver_src.transact(
            a.htlc, claim_calldata(a, "0x" + preimage.hex()), gas=150_000
        )
        return elapsed

    async def close(self) -> None:
        await self.session.close()


# ---------------------------------------------------------------------------
# the system


class System:
    def __init__(
        self,
        manifest: DevnetManifest,
        config: SettlementConfig,
        redis: Redis,
        counter: RpcCounter,
        state: Path,
    ):
        self.session = new_session()
        self.service = SettlementService(
            config, redis, manifest.accounts.resolver.address, session=self.session, counter=counter
        )
        chains = {c.key: c for c in config.chains}
        self.trader = TraderClient(
            manifest.accounts.trader.local_account(),
            chains,
            SecretVault(state),
            self.session,
            counter=counter,
        )
        self.coordinator = Coordinator(
            config, redis, manifest.accounts.resolver.local_account(), counter=counter
        )
        self.config = config
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.coordinator.start()
        self.task = asyncio.create_task(self.coordinator.run(self.stop))

    async def swap(self) -> float:
        quote = make_quote(self.config)
        await self.service.quotes.put(quote)
        started = time.perf_counter()
        result = await self.trader.swap(quote, self.service)
        assert result.outcome.value == "claimed", result
        return time.perf_counter() - started

    async def wait_settled(self) -> None:
        """Until the coordinator has no swap left to drive (polled: state is in Redis)."""
        while True:
            if not await self.coordinator.store.active_ids():
                return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.coordinator.close()
        await self.service.close()
        await self.session.close()


async def run(swaps: int, burst: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-swap-"))
    redis_proc, redis_url = start_redis(work)
    manifest = await up(load_devnet_config(), work / "devnet", die_with_parent=True)
    try:
        config = SettlementConfig.from_manifest(manifest, timelocks=POLICY, poll_interval_s=0.002)
        floor_counter, system_counter = RpcCounter(), RpcCounter()
        floor = Floor(manifest, config, floor_counter)
        await floor.prepare()
        await floor.swap()  # warm-up
        floor_counter.requests = 0
        floor_lat = [await floor.swap() for _ in range(swaps)]
        floor_rpc = floor_counter.requests / swaps
        started = time.perf_counter()
        await asyncio.gather(*(floor.swap() for _ in range(burst)))
        floor_tps = burst / (time.perf_counter() - started)
        await floor.close()

        redis = Redis.from_url(redis_url)
        system = System(manifest, config, redis, system_counter, work / "trader")
        await system.start()
        await system.swap()  # warm-up (approvals)
        await system.wait_settled()
        system_counter.requests = 0
        sys_lat = []
        for _ in range(swaps):
            sys_lat.append(await system.swap())
            await system.wait_settled()
        sys_rpc = system_counter.requests / swaps
        started = time.perf_counter()
        await asyncio.gather(*(system.swap() for _ in range(burst)))
        await system.wait_settled()
        sys_tps = burst / (time.perf_counter() - started)
        recent = await system.coordinator.store.list_swaps(limit=burst)
        sizes = [s.txs[0].batch_size for s in recent if s.txs]
        await system.close()
        await redis.aclose()
    finally:
        down(work / "devnet")
        redis_proc.kill()
        redis_proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("latency p50 (ms)", statistics.median(sys_lat) * 1e3, statistics.median(floor_lat) * 1e3),
        ("latency p99 (ms)", percentile(sys_lat, 99) * 1e3, percentile(floor_lat, 99) * 1e3),
        ("RPC requests per swap", sys_rpc, floor_rpc),
        (f"swaps/s, burst of {burst}", sys_tps, floor_tps),
    ]
    print(f"{swaps} sequential swaps {SOURCE}->{DESTINATION}, then a burst of {burst}\n")
    print(f"{'metric':<28}{'system':>10}{'floor':>10}{'ratio':>8}")
    for name, mine, base in rows:
        print(f"{name:<28}{mine:>10.1f}{base:>10.1f}{mine / base:>8.2f}")
    if sizes:
        print(f"\nlockBatch size in the burst: mean {statistics.mean(sizes):.1f}, max {max(sizes)}")
    verdict = "met" if statistics.median(sys_lat) <= 3 * statistics.median(floor_lat) else "missed"
    print(f"target p50 <= 3x floor: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=40, help="Sequential swaps per side.")
    parser.add_argument("--burst", type=int, default=40, help="Concurrent swaps per side.")
    args = parser.parse_args()
    asyncio.run(run(args.swaps, args.burst))


if __name__ == "__main__":
    main()
