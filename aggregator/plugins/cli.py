"""``aggregator connectors list``: installed plugins and configured instances with health.

Instances come from a connectors file (``--config``) and/or a running devnet
(``--devnet-dir``, through each plugin's ``configs_from_manifest``). Each
instance is started, given a moment to receive its first data, reported and
stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aggregator.errors import AggregatorError
from aggregator.models.registry import AssetRegistry, load_assets_config
from aggregator.plugins.protocol import Connector, Health, HealthStatus
from aggregator.plugins.registry import (
    ConnectorInstanceConfig,
    PluginRegistry,
    asset_registry_for_manifest,
    configs_from_manifest,
    load_connectors_config,
)

__all__ = ["register"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASSETS = _REPO_ROOT / "config" / "assets.toml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("connectors", help="Connector plugins and instances.")
    sub = parser.add_subparsers(dest="connectors_command", metavar="ACTION")
    listing = sub.add_parser(
        "list", help="Installed plugins, and configured instances with their health."
    )
    listing.add_argument(
        "--devnet-dir", type=Path, help="State dir of a running devnet: its chains and venue."
    )
    listing.add_argument("--config", type=Path, help="A connectors TOML file ([[connectors]]).")
    listing.add_argument(
        "--assets", type=Path, default=DEFAULT_ASSETS, help="Canonical assets TOML file."
    )
    listing.add_argument(
        "--wait", type=float, default=5.0, help="Seconds to wait for first data (default 5)."
    )
    listing.set_defaults(handler=_list)
    parser.set_defaults(handler=lambda _args: (parser.print_help(), 2)[1])


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _plugin_rows(registry: PluginRegistry) -> list[list[str]]:
    rows = [["plugin", "version", "protocol", "distribution", "status"]]
    for item in registry.installed():
        status = "ok"
        try:
            registry.get(item.name)
        except AggregatorError as exc:
            status = f"refused: {exc.message}"
        rows.append(
            [
                item.name,
                item.version or "-",
                "-" if item.protocol_version is None else str(item.protocol_version),
                item.distribution or "-",
                status,
            ]
        )
    return rows


def _asset_registry(assets_path: Path, manifest: Any | None) -> AssetRegistry:
    config = load_assets_config(assets_path)
    if manifest is None:
        return AssetRegistry(config.assets, (), config.venue_pairs)
    return asset_registry_for_manifest(manifest, config)


async def _probe(connectors: Sequence[Connector], wait_s: float) -> list[Health | str]:
    started = await asyncio.gather(*(c.start() for c in connectors), return_exceptions=True)
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            if all(
                isinstance(s, BaseException) or c.health().status is HealthStatus.HEALTHY
                for c, s in zip(connectors, started, strict=True)
            ):
                break
            await asyncio.sleep(0.05)
        out: list[Health | str] = []
        for c, s in zip(connectors, started, strict=True):
            if isinstance(s, BaseException):
                message = s.message if isinstance(s, AggregatorError) else str(s)
                out.append(f"start failed: {type(s).__name__}: {message}")
            else:
                out.append(c.health())
        return out
    finally:
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)


def _instance_rows(
    instances: Sequence[ConnectorInstanceConfig],
    connectors: Sequence[Connector],
    results: Sequence[Health | str],
) -> list[list[str]]:
    rows = [["instance", "plugin", "markets", "status", "sequence", "age", "reason"]]
    for instance, connector, result in zip(instances, connectors, results, strict=True):
        markets = str(len(connector.markets()))
        if isinstance(result, str):
            rows.append([instance.name, instance.plugin, markets, "error", "-", "-", result])
            continue
        age = "-" if result.age_ns is None else f"{result.age_ns / 1e9:.2f}s"
        seq = "-" if result.last_sequence is None else str(result.last_sequence)
        reason = result.reason or ""
        if result.quarantined:
            reason = (
                (reason + "; " if reason else "")
                + "quarantined: "
                + ", ".join(f"{m} ({r})" for m, r in result.quarantined.items())
            )
        rows.append(
            [instance.name, instance.plugin, markets, result.status.value, seq, age, reason]
        )
    return rows


def _list(args: argparse.Namespace) -> int:
    registry = PluginRegistry.discover()
    for line in _table(_plugin_rows(registry)):
        print(line)
    manifest = None
    instances: list[ConnectorInstanceConfig] = []
    if args.config is not None:
        instances += list(load_connectors_config(args.config).connectors)
    if args.devnet_dir is not None:
        from aggregator.devnet.manifest import load_manifest

        manifest = load_manifest(args.devnet_dir)
        instances += configs_from_manifest(manifest, registry)
    if args.config is None and args.devnet_dir is None:
        print("\nno instances: pass --config FILE or --devnet-dir DIR to check them")
        return 0
    instances = [i for i in instances if i.enabled]
    if not instances:
        print("\nno connector instances configured")
        return 0
    connectors = registry.build(instances, _asset_registry(args.assets, manifest))
    results = asyncio.run(_probe(connectors, args.wait))
    print()
    for line in _table(_instance_rows(instances, connectors, results)):
        print(line)
    healthy = all(not isinstance(r, str) and r.status is HealthStatus.HEALTHY for r in results)
    return 0 if healthy else 1
