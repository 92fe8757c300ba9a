"""Connector plugin discovery and instance construction.

Plugins are found through the entry-point group ``aggregator.connectors``;
each entry point names a :class:`~aggregator.plugins.protocol.ConnectorPlugin`.
A first-party connector registers the same way as a third party's.

Instances come from configuration, one ``[[connectors]]`` table each::

    [[connectors]]
    name = "alpha"          # instance name, unique
    plugin = "evm_amm"      # entry-point name of the plugin
    enabled = true          # optional
    [connectors.config]     # the plugin's own table, validated by its config model
    chain = "alpha"
    ...

Every failure is typed: an unknown or unloadable plugin is a
:class:`~aggregator.errors.PluginError`, a plugin built for another protocol
version a :class:`~aggregator.errors.PluginVersionError`, and an invalid
instance table a :class:`~aggregator.errors.ConfigError` naming the instance
and the field.

A plugin's package may also expose ``configs_from_manifest(manifest)``, which
derives instance tables from a devnet deployment manifest (see
:func:`configs_from_manifest`).
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import ConfigError, PluginError, PluginVersionError
from aggregator.models.assets import TokenInfo
from aggregator.models.registry import AssetRegistry, AssetsConfig
from aggregator.plugins.protocol import (
    PROTOCOL_VERSION,
    Connector,
    ConnectorContext,
    ConnectorPlugin,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_HOOK",
    "ConnectorInstanceConfig",
    "ConnectorsConfig",
    "InstalledPlugin",
    "PluginRegistry",
    "asset_registry_for_manifest",
    "check_protocol_version",
    "configs_from_manifest",
    "load_connectors_config",
]

ENTRY_POINT_GROUP = "aggregator.connectors"
"""Entry-point group every connector plugin is published under."""

MANIFEST_HOOK = "configs_from_manifest"
"""Name of the optional function a plugin's package exposes to derive configs from a manifest."""


class ConnectorInstanceConfig(BaseModel):
    """One ``[[connectors]]`` table: a named instance of a plugin with its own config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Instance name, unique; the markets' venue.")
    plugin: str = Field(min_length=1, description="Entry-point name of the plugin.")
    enabled: bool = Field(default=True, description="Disabled instances are not built.")
    config: Mapping[str, Any] = Field(
        default_factory=dict, description="The plugin's own table, validated by its config model."
    )


class ConnectorsConfig(BaseModel):
    """``config/connectors.toml``: every configured connector instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connectors: tuple[ConnectorInstanceConfig, ...] = Field(
        default=(), description="Connector instances, in start order."
    )


def load_connectors_config(path: Path) -> ConnectorsConfig:
    """Read and validate a connectors TOML file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from exc
    try:
        return ConnectorsConfig.model_validate(raw)
    except PydanticValidationError as exc:
        raise _config_error(f"invalid connectors file {path}", exc, path=str(path)) from None


@dataclass(frozen=True)
class InstalledPlugin:
    """A discovered plugin, or the reason it could not be loaded."""

    name: str
    """Entry-point name (what ``plugin =`` refers to)."""
    value: str
    """Entry-point target, ``module:attribute``."""
    distribution: str | None
    version: str | None
    """Version of the distribution that installed it."""
    plugin: ConnectorPlugin | None
    error: PluginError | None = None

    @property
    def protocol_version(self) -> int | None:
        return None if self.plugin is None else self.plugin.protocol_version

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()


def check_protocol_version(plugin: ConnectorPlugin, *, name: str | None = None) -> None:
    """Refuse a plugin built for another protocol version."""
    if plugin.protocol_version != PROTOCOL_VERSION:
        label = name or plugin.name
        raise PluginVersionError(
            f"connector plugin {label!r} implements protocol version {plugin.protocol_version}; "
            f"this aggregator supports version {PROTOCOL_VERSION}",
            plugin=label,
            plugin_version=plugin.protocol_version,
            supported_version=PROTOCOL_VERSION,
        )


def _load_entry_point(ep: metadata.EntryPoint) -> InstalledPlugin:
    dist = getattr(ep, "dist", None)
    dist_name = dist.metadata["Name"] if dist is not None else None
    dist_version = dist.version if dist is not None else None
    try:
        obj = ep.load()
    except Exception as exc:  # an arbitrary third-party import failure
        error = PluginError(
            f"connector plugin {ep.name!r} ({ep.value}) failed to import: "
            f"{type(exc).__name__}: {exc}",
            plugin=ep.name,
        )
        return InstalledPlugin(ep.name, ep.value, dist_name, dist_version, None, error)
    if not isinstance(obj, ConnectorPlugin):
        error = PluginError(
            f"entry point {ep.name!r} ({ep.value}) is a {type(obj).__name__}, "
            "not a ConnectorPlugin",
            plugin=ep.name,
        )
        return InstalledPlugin(ep.name, ep.value, dist_name, dist_version, None, error)
    return InstalledPlugin(ep.name, ep.value, dist_name, dist_version, obj)


class PluginRegistry:
    """The installed connector plugins, by entry-point name."""

    def __init__(self, installed: Iterable[InstalledPlugin]) -> None:
        self._installed: dict[str, InstalledPlugin] = {}
        for item in installed:
            if item.name in self._installed:
                previous = self._installed[item.name]
                error = PluginError(
                    f"connector plugin name {item.name!r} is registered twice "
                    f"({previous.value} and {item.value})",
                    plugin=item.name,
                )
                self._installed[item.name] = InstalledPlugin(
                    item.name, item.value, item.distribution, item.version, None, error
                )
                continue
            self._installed[item.name] = item

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> PluginRegistry:
        """Load every entry point of ``group``; failures are kept, not raised."""
        return cls(_load_entry_point(ep) for ep in metadata.entry_points(group=group))

    @classmethod
    def from_plugins(cls, plugins: Iterable[ConnectorPlugin]) -> PluginRegistry:
        """A registry of in-process plugin objects (tests, embedding)."""
        return cls(
            InstalledPlugin(p.name, f"{type(p).__module__}:<object>", None, None, p)
            for p in plugins
        )

    def installed(self) -> tuple[InstalledPlugin, ...]:
        return tuple(sorted(self._installed.values(), key=lambda p: p.name))

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._installed))

    def get(self, name: str) -> ConnectorPlugin:
        """The plugin ``name``, checked for loadability and protocol version."""
        item = self._installed.get(name)
        if item is None:
            known = ", ".join(self.names()) or "none"
            raise PluginError(
                f"no connector plugin named {name!r} is installed (installed: {known})",
                plugin=name,
            )
        if item.error is not None:
            raise item.error
        assert item.plugin is not None
        check_protocol_version(item.plugin, name=name)
        return item.plugin

    def validate_config(self, instance: ConnectorInstanceConfig) -> BaseModel:
        """The instance's table validated by its plugin's config model."""
        plugin = self.get(instance.plugin)
        try:
            return plugin.config_model.model_validate(dict(instance.config))
        except PydanticValidationError as exc:
            raise _config_error(
                f"connector {instance.name!r} (plugin {instance.plugin!r})",
                exc,
                instance=instance.name,
                plugin=instance.plugin,
            ) from None

    def build(
        self,
        instances: Iterable[ConnectorInstanceConfig],
        asset_registry: AssetRegistry,
        extras: Mapping[str, Any] | None = None,
    ) -> list[Connector]:
        """Validate every enabled instance, then construct them (nothing is started)."""
        chosen = [i for i in instances if i.enabled]
        seen: set[str] = set()
        for instance in chosen:
            if instance.name in seen:
                raise ConfigError(
                    f"connector instance name {instance.name!r} is used twice",
                    instance=instance.name,
                )
            seen.add(instance.name)
        validated = [(i, self.get(i.plugin), self.validate_config(i)) for i in chosen]
        connectors: list[Connector] = []
        for instance, plugin, config in validated:
            context = ConnectorContext(
                registry=asset_registry, instance_name=instance.name, extras=dict(extras or {})
            )
            connector = plugin.factory(config, context)
            if not isinstance(connector, Connector):
                raise PluginError(
                    f"plugin {instance.plugin!r} built a {type(connector).__name__} for "
                    f"{instance.name!r}, which does not implement the Connector protocol",
                    plugin=instance.plugin,
                    instance=instance.name,
                )
            connectors.append(connector)
        return connectors

    def manifest_hook(self, name: str) -> Callable[[Any], Any] | None:
        """The plugin package's ``configs_from_manifest``, if it has one.

        Looked up in the entry point's module, then in each enclosing package.
        """
        item = self._installed.get(name)
        if item is None or item.plugin is None:
            return None
        parts = item.module.split(".")
        for depth in range(len(parts), 0, -1):
            module_name = ".".join(parts[:depth])
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            hook = getattr(module, MANIFEST_HOOK, None)
            if callable(hook):
                return hook  # type: ignore[no-any-return]
        return None


def configs_from_manifest(
    manifest: Any, registry: PluginRegistry, *, plugins: Sequence[str] | None = None
) -> list[ConnectorInstanceConfig]:
    """Instance tables derived from a devnet manifest by each plugin's hook.

    A hook returns an iterable (or a single item, or None) of either
    ``{"name": ..., "config": {...}}`` mappings (``plugin`` defaults to the
    hook's plugin), :class:`ConnectorInstanceConfig` objects, or bare plugin
    configs (mappings or pydantic models), whose instance name is their
    ``name`` field if they have one, else the plugin's name.
    """
    out: list[ConnectorInstanceConfig] = []
    for name in plugins if plugins is not None else registry.names():
        hook = registry.manifest_hook(name)
        if hook is None:
            continue
        produced = hook(manifest)
        if produced is None:
            continue
        items = [produced] if isinstance(produced, BaseModel | Mapping) else list(produced)
        for index, item in enumerate(items):
            out.append(_instance_from_hook(name, index, len(items), item))
    return out


def asset_registry_for_manifest(manifest: Any, assets: AssetsConfig) -> AssetRegistry:
    """The canonical assets plus every token a devnet manifest deployed, per chain."""
    tokens = [
        TokenInfo(
            asset=symbol,
            chain=chain.key,
            chain_id=chain.chain_id,
            address=token.address,
            decimals=token.decimals,
        )
        for chain in manifest.chains
        for symbol, token in chain.tokens.items()
    ]
    return AssetRegistry(assets.assets, tokens, assets.venue_pairs)


def _instance_from_hook(plugin: str, index: int, count: int, item: Any) -> ConnectorInstanceConfig:
    if isinstance(item, ConnectorInstanceConfig):
        return item
    if isinstance(item, Mapping) and "config" in item:
        return ConnectorInstanceConfig(
            name=str(item.get("name") or plugin),
            plugin=str(item.get("plugin") or plugin),
            enabled=bool(item.get("enabled", True)),
            config=dict(item["config"]),
        )
    if isinstance(item, BaseModel):
        config = item.model_dump(mode="python")
        # keep secrets usable: model_dump leaves SecretStr objects, re-expose their value
        config = {k: _unwrap_secret(v) for k, v in config.items()}
    elif isinstance(item, Mapping):
        config = dict(item)
    else:
        raise PluginError(
            f"{plugin}.{MANIFEST_HOOK} returned a {type(item).__name__}, "
            "expected a mapping or a pydantic model",
            plugin=plugin,
        )
    default = plugin if count == 1 else f"{plugin}-{index}"
    name = config.get("name") if isinstance(config.get("name"), str) else None
    return ConnectorInstanceConfig(name=name or default, plugin=plugin, config=config)


def _unwrap_secret(value: Any) -> Any:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def _config_error(prefix: str, exc: PydanticValidationError, **details: Any) -> ConfigError:
    problems = []
    fields = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<root>"
        fields.append(field)
        problems.append(f"field {field!r}: {err['msg']}")
    return ConfigError(f"{prefix}: " + "; ".join(problems), fields=fields, **details)
