"""``aggregator devnet up|status|down``."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aggregator.devnet.config import load_devnet_config
from aggregator.devnet.lifecycle import chain_heights, default_state_dir, down, running_manifest, up
from aggregator.devnet.manifest import DevnetManifest, load_manifest, manifest_path

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "devnet",
        help="run local anvil chains with the contracts deployed",
        description="Local multi-chain devnet: anvil chains, contracts, seeded pools, funding.",
    )
    commands = parser.add_subparsers(dest="devnet_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="where the manifest, process records and logs live "
            "(default: $AGGREGATOR_DEVNET_DIR or .devnet/ in the repository)",
        )
        return sub

    up_parser = add("up", "start the chains, deploy and fund (no-op if already up)")
    up_parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="devnet TOML (default: $AGGREGATOR_DEVNET_CONFIG or config/devnet.toml)",
    )
    up_parser.set_defaults(handler=_up)

    status_parser = add("status", "show chains, block heights and deployed addresses")
    status_parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    status_parser.set_defaults(handler=_status)

    add("down", "stop every process `up` started and remove the manifest").set_defaults(
        handler=_down
    )


def _state_dir(args: argparse.Namespace) -> Path:
    state_dir: Path | None = args.state_dir
    return (state_dir or default_state_dir()).resolve()


def _up(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    config = load_devnet_config(args.config)
    reused = running_manifest(state_dir) is not None
    started = time.monotonic()
    manifest = asyncio.run(up(config, state_dir))
    if reused:
        print(f"devnet already up (state dir {state_dir})")
    else:
        print(f"devnet up in {time.monotonic() - started:.2f} s (state dir {state_dir})")
    _print_status(manifest, asyncio.run(chain_heights(manifest)))
    return 0


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    manifest = running_manifest(state_dir)
    if manifest is None:
        if manifest_path(state_dir).exists():
            print(f"devnet is stale in {state_dir}: run `aggregator devnet down`")
        else:
            print(f"devnet is not running (state dir {state_dir})")
        return 1
    if args.json:
        print(json.dumps(load_manifest(state_dir).model_dump(mode="json"), indent=2))
        return 0
    print(f"devnet up (state dir {state_dir})")
    _print_status(manifest, asyncio.run(chain_heights(manifest)))
    return 0


def _down(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    stopped = down(state_dir)
    if not stopped:
        print(f"nothing running (state dir {state_dir})")
    for record in stopped:
        print(f"stopped {record.name} (pid {record.pid})")
    return 0


def _print_status(manifest: DevnetManifest, heights: dict[str, int | None]) -> None:
    for chain in manifest.chains:
        height = heights.get(chain.key)
        shown = "unreachable" if height is None else str(height)
        print(
            f"chain {chain.key} ({chain.name}) id={chain.chain_id} rpc={chain.rpc_url} "
            f"height={shown} confirmations={chain.confirmations} pid={chain.pid}"
        )
        print(f"  htlc {chain.htlc}")
        for symbol, token in chain.tokens.items():
            print(f"  token {symbol} {token.address} decimals={token.decimals}")
        for pool in chain.pools:
            print(f"  pool {pool.pair} {pool.address} fee_bps={pool.fee_bps}")
    accounts = manifest.accounts
    print(f"resolver {accounts.resolver.address}")
    print(f"trader {accounts.trader.address}")
    if manifest.venue is not None:
        print(f"venue rest={manifest.venue.rest_url} ws={manifest.venue.ws_url}")
