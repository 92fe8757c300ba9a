"""``aggregator demo``: the devnet, the service, and a trader swapping across chains.

It brings the devnet up (reusing one already running), starts a private
``redis-server`` on a free loopback port unless ``AGGREGATOR_REDIS_URL`` is
set, runs the service in process, then swaps as the devnet's trader through
the HTTP API: a firm quote, the swap, the trader's lock, the resolver's lock,
the trader's claim and the resolver's claim. For each swap it prints the
quoted output against the balance the trader actually gained, and the
transactions on both chains. Then it keeps serving and shows the /docs URL
until interrupted; whatever it started is stopped on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from aggregator.api.client import ApiClient
from aggregator.api.server import Running, free_port, serve_in_process
from aggregator.client.trader import TraderClient, TraderOutcome
from aggregator.client.vault import SecretVault
from aggregator.devnet.config import load_devnet_config
from aggregator.devnet.lifecycle import down, running_manifest, up
from aggregator.errors import DevnetError
from aggregator.models.units import from_base_units
from aggregator.settings import Settings
from aggregator.settlement.chain import ChainClient, new_session
from aggregator.settlement.swap import SwapPhase

__all__ = ["DEMO_ROUTES", "DemoOptions", "private_redis", "run_demo"]

_BALANCE_OF = keccak(text="balanceOf(address)")[:4]

DEMO_ROUTES: tuple[tuple[str, str, str, str, str], ...] = (
    ("USDC", "alpha", "WETH", "beta", "3000"),
    ("WETH", "beta", "USDC", "gamma", "1.5"),
    ("WBTC", "gamma", "WETH", "alpha", "0.2"),
    ("USDC", "beta", "WBTC", "alpha", "12000"),
)
"""(sell asset, sell chain, buy asset, buy chain, whole units sold), used in turn."""


@dataclass(frozen=True)
class DemoOptions:
    state_dir: Path
    swaps: int = 3
    exit_after_swaps: bool = False
    port: int = 0


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A ``redis-server`` on a free loopback port, nothing on disk; stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DevnetError("redis-server is not installed (or set AGGREGATOR_REDIS_URL)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="agg-demo-redis-")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DevnetError("redis-server did not start", port=port)
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def devnet(state_dir: Path) -> AsyncIterator[None]:
    """The devnet in ``state_dir``: reused when running, else started and stopped here."""
    started = running_manifest(state_dir) is None
    if started:
        say(f"starting the devnet in {state_dir} (chains, contracts, pools, funding)...")
        began = time.monotonic()
        await up(load_devnet_config(), state_dir)
        say(f"devnet up in {time.monotonic() - began:.1f} s")
    else:
        say(f"using the devnet already running in {state_dir}")
    try:
        yield
    finally:
        if started:
            say("stopping the devnet")
            down(state_dir)


async def _balance(client: ChainClient, token: str, owner: str) -> int:
    raw = await client.eth_call(token, _BALANCE_OF + encode(["address"], [owner]))
    return int.from_bytes(raw, "big")


async def _wait_completed(api: ApiClient, swap_id: str, limit_s: float) -> dict[str, object]:
    deadline = time.monotonic() + limit_s
    phase = ""
    while True:
        view = await api.get_swap(swap_id)
        if view["state"] != phase:
            phase = str(view["state"])
            say(f"    swap {swap_id[:10]}: {phase}")
        if view["terminal"]:
            return view
        if time.monotonic() > deadline:
            raise DevnetError(f"swap {swap_id} still {phase} after {limit_s:g} s")
        await asyncio.sleep(0.1)


async def _one_swap(running: Running, api: ApiClient, trader: TraderClient, index: int) -> None:
    sell, src, buy, dst, whole = DEMO_ROUTES[index % len(DEMO_ROUTES)]
    registry = running.foundation.registry
    amount = int(Decimal(whole) * 10 ** registry.decimals(sell))
    say(f"\nswap {index + 1}: {whole} {sell} on {src} -> {buy} on {dst}")
    view = await api.quote(
        sell={"asset": sell, "location": src},
        buy={"asset": buy, "location": dst},
        amount=str(amount),
        firm=True,
    )
    quote = await running.context.quotes.get(view["id"])
    legs = " | ".join(
        " > ".join(f"{leg['kind']}@{leg['location']}" for leg in path["legs"])
        for path in view["paths"]
    )
    say(f"  quote {quote.id[:12]}: {view['amount_out']} base units of {buy} via {legs}")
    token = registry.token(buy, dst).address
    client = trader.clients[dst]
    before = await _balance(client, token, trader.address)
    result = await trader.swap(quote, api)
    after = await _balance(client, token, trader.address)
    final = await _wait_completed(api, result.ticket.swap.id, 120.0)
    delivered = after - before
    decimals = registry.decimals(buy)
    say(
        f"  quoted    {quote.amount_out} ({from_base_units(quote.amount_out, decimals)} {buy})\n"
        f"  delivered {delivered} ({from_base_units(delivered, decimals)} {buy}) "
        f"{'= quoted' if delivered == quote.amount_out else '!= quoted'}"
    )
    say(f"  trader outcome: {result.outcome.value}; swap state: {final['state']}")
    txs = final["txs"]
    assert isinstance(txs, list)
    for tx in txs:
        say(f"  tx {tx['kind']:<20} chain {tx['chain']:<6} {tx['hash']} status {tx['status']}")
    if result.outcome is not TraderOutcome.CLAIMED or final["state"] != SwapPhase.COMPLETED:
        raise DevnetError(f"swap {index + 1} did not complete", state=final["state"])


async def _serve_and_swap(settings: Settings, options: DemoOptions, api_key: str) -> int:
    async with serve_in_process(settings, progress=lambda m: say(f"service: {m}")) as running:
        say(f"service up at {running.url}")
        manifest = running.foundation.manifest
        session = new_session()
        async with ApiClient(running.url, api_key=api_key) as api:
            try:
                config = running.foundation.settlement_config()
                trader = TraderClient(
                    manifest.accounts.trader.local_account(),
                    {c.key: c for c in config.chains},
                    SecretVault(options.state_dir / "demo-trader"),
                    session,
                    expected_resolver=manifest.accounts.resolver.address,
                )
                for index in range(options.swaps):
                    await _one_swap(running, api, trader, index)
                status, page = await api.text("/docs")
                say(f"\ndocs served at {running.url}/docs (HTTP {status}, {len(page)} bytes)")
            finally:
                await session.close()
            if options.exit_after_swaps:
                say("done")
                return 0
            say(f"\nserving until interrupted (Ctrl-C). Docs: {running.url}/docs")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            say("stopping")
            return 0


async def run_demo(settings: Settings, options: DemoOptions) -> int:
    """The whole demo (see the module docstring); the settings' Redis URL is used."""
    api_key = secrets.token_hex(16)
    settings = settings.with_overrides(
        api={
            "port": options.port or free_port(settings.api.host),
            "api_keys": [*(k.get_secret_value() for k in settings.api.api_keys), api_key],
        },
        devnet={"state_dir": str(options.state_dir)},
    )
    async with devnet(options.state_dir):
        return await _serve_and_swap(settings, options, api_key)
