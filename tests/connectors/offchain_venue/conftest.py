"""Recorded venue payloads and the objects the connector's pure parts are built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator.models import AssetRegistry, load_assets_config
from connectors.offchain_venue import OffchainVenueConfig, OffchainVenueConnector
from connectors.offchain_venue.convert import MarketSpec, market_specs
from connectors.offchain_venue.schemas import ExchangeInfo
from tests.fixtures.venue import VenueServer

RESOURCES = Path(__file__).parent / "resources"
ASSETS = Path(__file__).parents[3] / "config" / "assets.toml"
VENUE = "clob"


def resource_text(name: str) -> str:
    return (RESOURCES / name).read_text()


def resource_json(name: str) -> Any:
    return json.loads(resource_text(name))


def recorded_response(name: str) -> httpx.Response:
    """A recorded HTTP exchange ``{status, headers, body}`` as an httpx response."""
    recorded = resource_json(name)
    return httpx.Response(
        recorded["status"], headers=recorded["headers"], content=json.dumps(recorded["body"])
    )


def diff_frames(name: str = "depth_diffs_wethusdc.jsonl") -> list[str]:
    return [line for line in resource_text(name).splitlines() if line.strip()]


@pytest.fixture(scope="session")
def registry() -> AssetRegistry:
    config = load_assets_config(ASSETS)
    return AssetRegistry(config.assets, venue_pairs=config.venue_pairs)


@pytest.fixture(scope="session")
def exchange_info() -> ExchangeInfo:
    return ExchangeInfo.model_validate_json(resource_text("exchange_info.json"))


@pytest.fixture(scope="session")
def specs(exchange_info: ExchangeInfo, registry: AssetRegistry) -> dict[str, MarketSpec]:
    found, _ = market_specs(exchange_info, registry, VENUE, fee_bps=10)
    return {spec.symbol: spec for spec in found}


def live_connector(
    venue: VenueServer, registry: AssetRegistry, **overrides: Any
) -> OffchainVenueConnector:
    """A connector (not started) on the ``venue_server`` fixture's venue, as the resolver."""
    config = OffchainVenueConfig.model_validate(
        {
            "rest_url": venue.rest_url,
            "ws_url": venue.ws_url,
            "api_key": venue.api_key,
            "api_secret": venue.api_secret,
        }
        | overrides
    )
    return OffchainVenueConnector(VENUE, config, registry)
