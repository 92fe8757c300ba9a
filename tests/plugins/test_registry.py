"""Plugin discovery through entry points, instance construction and its typed errors."""

from __future__ import annotations

import asyncio
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import example_connector
import pytest
from pydantic import BaseModel

import aggregator.plugins.registry as registry_module
from aggregator.devnet.manifest import DevnetManifest
from aggregator.errors import ConfigError, PluginError, PluginVersionError
from aggregator.models import Asset, AssetRegistry, load_assets_config
from aggregator.plugins import (
    PROTOCOL_VERSION,
    Connector,
    ConnectorInstanceConfig,
    ConnectorPlugin,
    HealthStatus,
    PluginRegistry,
    configs_from_manifest,
    load_connectors_config,
)
from aggregator.plugins.registry import InstalledPlugin, asset_registry_for_manifest
from connectors.evm_amm import PLUGIN as EVM_AMM

ASSETS = AssetRegistry([Asset(symbol="USDC", decimals=6), Asset(symbol="WETH", decimals=18)])
ASSETS_TOML = Path(__file__).resolve().parents[2] / "config" / "assets.toml"

SYNTHETIC_TOML = """
[[connectors]]
name = "syn"
plugin = "synthetic_book"
[connectors.config]
balances = { USDC = 1000000 }
[[connectors.config.markets]]
base = "WETH"
quote = "USDC"
mid = "{mid}"
tick_size = "0.01"
level_size = 1000000000000000000
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(text)
    return path


def test_discovers_first_party_and_third_party_plugins_through_entry_points() -> None:
    registry = PluginRegistry.discover()
    installed = {p.name: p for p in registry.installed()}
    example = installed["synthetic_book"]
    assert example.distribution == "aggregator-example-connector"
    assert example.version == metadata.version("aggregator-example-connector")
    assert example.protocol_version == PROTOCOL_VERSION
    assert example.value == "example_connector:PLUGIN"
    assert registry.get("synthetic_book") is example_connector.PLUGIN
    assert installed["evm_amm"].distribution == "aggregator"
    assert registry.get("evm_amm") is EVM_AMM


def test_builds_and_runs_an_instance_from_a_connectors_file(tmp_path: Path) -> None:
    config = load_connectors_config(_file(tmp_path, SYNTHETIC_TOML.replace("{mid}", "3000")))
    (connector,) = PluginRegistry.discover().build(config.connectors, ASSETS)
    assert isinstance(connector, Connector)
    assert connector.name == "syn"
    assert [m.id for m in connector.markets()] == ["syn:WETHUSDC"]

    async def run() -> HealthStatus:
        await connector.start()
        try:
            for _ in range(200):
                if connector.health().status is HealthStatus.HEALTHY:
                    break
                await asyncio.sleep(0.01)
            return connector.health().status
        finally:
            await connector.stop()

    assert asyncio.run(run()) is HealthStatus.HEALTHY


def test_an_invalid_instance_table_names_the_instance_and_the_field(tmp_path: Path) -> None:
    config = load_connectors_config(_file(tmp_path, SYNTHETIC_TOML.replace("{mid}", "-1")))
    with pytest.raises(ConfigError) as raised:
        PluginRegistry.discover().build(config.connectors, ASSETS)
    error = raised.value
    assert "connector 'syn' (plugin 'synthetic_book')" in error.message
    assert "field 'markets.0.mid'" in error.message
    assert error.details["instance"] == "syn"
    assert error.details["fields"][0] == "markets.0.mid"


def test_a_plugin_for_another_protocol_version_is_refused_clearly() -> None:
    future = ConnectorPlugin(
        name="future",
        protocol_version=PROTOCOL_VERSION + 1,
        config_model=example_connector.SyntheticBookConfig,
        factory=example_connector.PLUGIN.factory,
    )
    registry = PluginRegistry.from_plugins([future])
    with pytest.raises(PluginVersionError) as raised:
        registry.get("future")
    message = raised.value.message
    assert "'future'" in message
    assert f"protocol version {PROTOCOL_VERSION + 1}" in message
    assert f"supports version {PROTOCOL_VERSION}" in message
    assert raised.value.details == {
        "plugin": "future",
        "plugin_version": PROTOCOL_VERSION + 1,
        "supported_version": PROTOCOL_VERSION,
    }
    instance = ConnectorInstanceConfig(name="f", plugin="future", config={})
    with pytest.raises(PluginVersionError):
        registry.build([instance], ASSETS)


def test_unknown_plugins_and_duplicate_instances_are_config_errors(tmp_path: Path) -> None:
    registry = PluginRegistry.discover()
    with pytest.raises(PluginError, match=r"no connector plugin named 'nope'.*synthetic_book"):
        registry.get("nope")
    text = SYNTHETIC_TOML.replace("{mid}", "3000")
    config = load_connectors_config(_file(tmp_path, text + text))
    with pytest.raises(ConfigError, match="'syn' is used twice"):
        registry.build(config.connectors, ASSETS)
    disabled = [config.connectors[0], config.connectors[1].model_copy(update={"enabled": False})]
    assert len(registry.build(disabled, ASSETS)) == 1


def test_unreadable_connectors_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_connectors_config(_file(tmp_path, "[[connectors]\n"))
    with pytest.raises(ConfigError, match=r"field 'connectors\.0\.plugin'"):
        load_connectors_config(_file(tmp_path, '[[connectors]]\nname = "x"\n'))


NOT_A_PLUGIN = object()


def test_broken_entry_points_are_reported_not_raised_at_discovery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = registry_module.ENTRY_POINT_GROUP
    fakes = [
        metadata.EntryPoint("wrong_type", f"{__name__}:NOT_A_PLUGIN", group),
        metadata.EntryPoint("missing", "no_such_module_here:PLUGIN", group),
        metadata.EntryPoint("example", "example_connector:PLUGIN", group),
    ]
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: fakes)
    registry = PluginRegistry.discover()
    assert registry.get("example") is example_connector.PLUGIN
    with pytest.raises(PluginError, match="is a object, not a ConnectorPlugin"):
        registry.get("wrong_type")
    with pytest.raises(PluginError, match="failed to import: ModuleNotFoundError"):
        registry.get("missing")
    errors = {p.name: p.error for p in registry.installed()}
    assert errors["example"] is None and errors["missing"] is not None


def test_a_factory_that_builds_no_connector_is_refused() -> None:
    bad = ConnectorPlugin(
        name="bad",
        protocol_version=PROTOCOL_VERSION,
        config_model=example_connector.SyntheticBookConfig,
        factory=lambda config, context: object(),  # type: ignore[arg-type,return-value]
    )
    instance = ConnectorInstanceConfig(
        name="b",
        plugin="bad",
        config={"markets": [{"base": "WETH", "quote": "USDC", "mid": "1", "tick_size": "0.01",
                             "level_size": 1}]},
    )  # fmt: skip
    with pytest.raises(PluginError, match="does not implement the Connector protocol"):
        PluginRegistry.from_plugins([bad]).build([instance], ASSETS)


class _HookConfig(BaseModel):
    name: str = "from-model"
    url: str


def test_manifest_hooks_are_found_in_enclosing_packages_and_normalized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package = types.ModuleType("hooked_pkg")
    module = types.ModuleType("hooked_pkg.plugin")
    module.PLUGIN = ConnectorPlugin(  # type: ignore[attr-defined]
        name="hooked",
        protocol_version=PROTOCOL_VERSION,
        config_model=_HookConfig,
        factory=example_connector.PLUGIN.factory,
    )

    def hook(manifest: Any) -> list[Any]:
        return [
            {"name": "full", "config": {"url": manifest}},
            {"url": manifest},
            _HookConfig(url=manifest),
        ]

    package.configs_from_manifest = hook  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hooked_pkg", package)
    monkeypatch.setitem(sys.modules, "hooked_pkg.plugin", module)
    registry = PluginRegistry(
        [InstalledPlugin("hooked", "hooked_pkg.plugin:PLUGIN", None, None, module.PLUGIN)]
    )
    got = configs_from_manifest("u", registry)
    assert [(c.name, c.plugin, dict(c.config)) for c in got] == [
        ("full", "hooked", {"url": "u"}),
        ("hooked-1", "hooked", {"url": "u"}),
        ("from-model", "hooked", {"name": "from-model", "url": "u"}),
    ]


def test_devnet_manifest_yields_one_healthy_amm_instance_per_chain(
    devnet: DevnetManifest,
) -> None:
    registry = PluginRegistry.discover()
    instances = [i for i in configs_from_manifest(devnet, registry) if i.plugin == "evm_amm"]
    assert [i.name for i in instances] == [c.key for c in devnet.chains]
    assets = asset_registry_for_manifest(devnet, load_assets_config(ASSETS_TOML))
    connectors = registry.build(instances, assets)

    async def run() -> list[HealthStatus]:
        await asyncio.gather(*(c.start() for c in connectors))
        try:
            for _ in range(300):
                if all(c.health().status is HealthStatus.HEALTHY for c in connectors):
                    break
                await asyncio.sleep(0.01)
            return [c.health().status for c in connectors]
        finally:
            await asyncio.gather(*(c.stop() for c in connectors))

    assert asyncio.run(run()) == [HealthStatus.HEALTHY] * len(devnet.chains)
    for connector, chain in zip(connectors, devnet.chains, strict=True):
        assert {m.address for m in connector.markets()} == {p.address for p in chain.pools}
