"""Config validation, the entry point, and configs derived from a devnet manifest."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from aggregator.devnet.manifest import DevnetManifest, VenueDeployment
from aggregator.errors import ConfigError
from aggregator.models import AssetRegistry
from aggregator.plugins import PROTOCOL_VERSION, Capability, Connector
from aggregator.plugins.registry import (
    ConnectorInstanceConfig,
    PluginRegistry,
    configs_from_manifest,
)
from connectors.offchain_venue import (
    PLUGIN_NAME,
    OffchainVenueConfig,
    OffchainVenueConnector,
    plugin,
)

from .conftest import VENUE

BASE = {"rest_url": "http://127.0.0.1:9100/", "ws_url": "ws://127.0.0.1:9100/ws"}


def test_urls_are_normalized_and_the_combined_stream_names_every_symbol() -> None:
    config = OffchainVenueConfig.model_validate(BASE)
    assert config.rest_url == "http://127.0.0.1:9100"
    assert config.ws_url == "ws://127.0.0.1:9100"
    assert config.stream_url(["WETHUSDC", "WBTCWETH"]) == (
        "ws://127.0.0.1:9100/stream?streams=wethusdc@depth@100ms/wbtcweth@depth@100ms"
    )
    slow = config.model_copy(update={"stream_speed_ms": 1000})
    assert slow.stream_name("WETHUSDC") == "wethusdc@depth"
    assert not config.can_trade


@pytest.mark.parametrize(
    "bad",
    [
        {"rest_url": "ftp://x"},
        {"ws_url": "http://x"},
        {"depth_limit": 300},
        {"recv_window_ms": 70_000},
        {"unknown_field": 1},
    ],
)
def test_invalid_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(PydanticValidationError):
        OffchainVenueConfig.model_validate(BASE | bad)


def test_secrets_stay_hidden() -> None:
    config = OffchainVenueConfig.model_validate(BASE | {"api_key": "k", "api_secret": "s3cr3t"})
    assert config.can_trade
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in config.model_dump_json()


def _manifest(venue: VenueDeployment | None) -> DevnetManifest:
    # The hook reads the venue section only; the chains are left out.
    return DevnetManifest.model_construct(venue=venue)  # type: ignore[call-arg]


def test_manifest_venue_section_becomes_one_instance_through_the_registry_hook(
    registry: AssetRegistry,
) -> None:
    venue = VenueDeployment(
        rest_url="http://127.0.0.1:9200",
        ws_url="ws://127.0.0.1:9200",
        pid=4242,
        api_key="key-1",
        api_secret=SecretStr("secret-1"),
    )
    plugins = PluginRegistry.discover()
    assert plugins.get(PLUGIN_NAME) is plugin
    assert plugin.protocol_version == PROTOCOL_VERSION
    (instance,) = configs_from_manifest(_manifest(venue), plugins, plugins=[PLUGIN_NAME])
    assert instance.name == VENUE and instance.plugin == PLUGIN_NAME
    (connector,) = plugins.build([instance], registry)
    assert isinstance(connector, OffchainVenueConnector) and isinstance(connector, Connector)
    assert connector.name == VENUE
    assert connector.config.rest_url == venue.rest_url
    assert connector.config.api_secret is not None
    assert connector.config.api_secret.get_secret_value() == "secret-1"
    assert Capability.EXECUTE in connector.capabilities().supported
    assert configs_from_manifest(_manifest(None), plugins, plugins=[PLUGIN_NAME]) == []


def test_registry_names_the_bad_field_of_a_venue_instance(registry: AssetRegistry) -> None:
    instance = ConnectorInstanceConfig(
        name=VENUE, plugin=PLUGIN_NAME, config=BASE | {"depth_limit": 7}
    )
    with pytest.raises(ConfigError) as caught:
        PluginRegistry.discover().build([instance], registry)
    assert "depth_limit" in caught.value.message


def test_read_only_connector_declares_why_it_cannot_trade(registry: AssetRegistry) -> None:
    connector = OffchainVenueConnector(VENUE, OffchainVenueConfig.model_validate(BASE), registry)
    caps = connector.capabilities()
    assert caps.reason(Capability.EXECUTE) == "no API key and secret configured"
    assert caps.reason(Capability.BOOKS) is None
