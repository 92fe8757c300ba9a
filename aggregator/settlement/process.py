"""The coordinator as a process: ``python -m aggregator.settlement --devnet-dir DIR --redis URL``.

It settles every swap in Redis until SIGTERM or SIGINT; several may run at once
(leases share the swaps). ``AGGREGATOR_CRASH_AT`` arms crash points for tests
(see :mod:`aggregator.settlement.crash`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from redis.asyncio import Redis

from aggregator.chain.nonces import NONCE_SOURCE
from aggregator.devnet.manifest import DevnetManifest, load_manifest
from aggregator.errors import AggregatorError, ConfigError
from aggregator.models import load_assets_config
from aggregator.plugins.protocol import Connector
from aggregator.plugins.registry import (
    PluginRegistry,
    asset_registry_for_manifest,
    configs_from_manifest,
)
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.coordinator import Coordinator
from aggregator.settlement.crash import CrashPoints
from aggregator.settlement.keys import Keys
from aggregator.settlement.legs import LegExecutor
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.reservations import RedisReservationStore

__all__ = ["build_parser", "main", "serve"]

_ASSETS = Path(__file__).resolve().parents[2] / "config" / "assets.toml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aggregator.settlement",
        description="Run a settlement coordinator against the chains of a devnet manifest.",
    )
    parser.add_argument("--devnet-dir", type=Path, required=True, help="Devnet state dir.")
    parser.add_argument("--redis", required=True, help="Redis URL, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML file of settlement settings (any SettlementConfig field but chains).",
    )
    parser.add_argument("--lease-ttl-ms", type=int, default=None, help="Per-swap lease TTL.")
    parser.add_argument("--poll-interval", type=float, default=None, help="Seconds per tick.")
    parser.add_argument(
        "--execute-legs",
        action="store_true",
        help="Run quoted trade legs on their venues through the devnet's connector plugins.",
    )
    parser.add_argument(
        "--confirmations",
        type=int,
        default=None,
        help="Override every chain's confirmation depth (tests).",
    )
    return parser


async def serve(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.devnet_dir)
    overrides: dict[str, object] = {}
    if args.config is not None:
        try:
            overrides.update(tomllib.loads(args.config.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {args.config}: {exc}") from exc
    if args.lease_ttl_ms is not None:
        overrides["lease_ttl_ms"] = args.lease_ttl_ms
    if args.poll_interval is not None:
        overrides["poll_interval_s"] = args.poll_interval
    config = SettlementConfig.from_manifest(manifest, **overrides)
    if args.confirmations is not None:
        chains = tuple(
            c.model_copy(update={"confirmations": args.confirmations}) for c in config.chains
        )
        config = config.model_copy(update={"chains": chains})
    redis = Redis.from_url(args.redis)
    reservations = RedisReservationStore(redis)
    # one nonce authority for the resolver's accounts: the coordinator's and the connectors'
    nonces = NonceManager(redis, Keys(config.key_prefix))
    connectors = await _leg_connectors(manifest, nonces) if args.execute_legs else []
    coordinator = Coordinator(
        config,
        redis,
        manifest.accounts.resolver.local_account(),
        release_reservation=reservations.release,
        crash=CrashPoints.from_env(),
        legs=LegExecutor({c.name: c for c in connectors}) if connectors else None,
        nonces=nonces,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await coordinator.start()
        print("coordinator ready", flush=True)
        await coordinator.run(stop)
    finally:
        await coordinator.close()
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)
        await redis.aclose()
    return 0


async def _leg_connectors(manifest: DevnetManifest, nonces: NonceManager) -> list[Connector]:
    """Every connector plugin's devnet instances, executing as the resolver with nonces
    from ``nonces``, started."""
    plugins = PluginRegistry.discover()
    registry = asset_registry_for_manifest(manifest, load_assets_config(_ASSETS))
    connectors = plugins.build(
        configs_from_manifest(manifest, plugins), registry, {NONCE_SOURCE: nonces}
    )
    await asyncio.gather(*(c.start() for c in connectors))
    return connectors


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(serve(args))
    except AggregatorError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
