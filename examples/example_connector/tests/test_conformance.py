"""Run the aggregator's connector conformance kit against the synthetic venue.

``pytest`` in this directory runs every case; the summary at the end lists
each case by its id (``conformance/...``) with its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from example_connector import PLUGIN, SyntheticBookConfig, SyntheticBookConnector

from aggregator.models import Asset, AssetRegistry, Side
from aggregator.plugins import Connector, ConnectorContext
from aggregator.plugins.conformance import ConnectorConformance, ExecutionProbe

ASSETS = AssetRegistry(
    [
        Asset(symbol="USDC", decimals=6),
        Asset(symbol="WETH", decimals=18),
        Asset(symbol="WBTC", decimals=8),
    ]
)

CONFIG = {
    "markets": [
        {
            "base": "WETH",
            "quote": "USDC",
            "mid": "3000",
            "tick_size": "0.01",
            "level_size": 2 * 10**18,
        },
        {
            "base": "WBTC",
            "quote": "USDC",
            "mid": "60000",
            "tick_size": "0.5",
            "level_size": 10**7,
        },
    ],
    "balances": {"USDC": 1_000_000 * 10**6, "WETH": 100 * 10**18, "WBTC": 10 * 10**8},
}


class TestSyntheticBookConformance(ConnectorConformance):
    async def make_connector(self) -> Connector:
        config = SyntheticBookConfig.model_validate(CONFIG)
        context = ConnectorContext(registry=ASSETS, instance_name="synthetic", extras={})
        return PLUGIN.factory(config, context)

    async def stop_source(self, connector: Connector) -> None:
        assert isinstance(connector, SyntheticBookConnector)
        connector.venue.pause()

    async def restart_source(self, connector: Connector) -> None:
        assert isinstance(connector, SyntheticBookConnector)
        connector.venue.resume()

    def execution_probe(self) -> ExecutionProbe:
        return ExecutionProbe(market_id="synthetic:WETHUSDC", side=Side.SELL_BASE, amount_in=10**18)

    async def balances(self, connector: Connector) -> Mapping[str, int]:
        assert isinstance(connector, SyntheticBookConnector)
        return await connector.balances()


def test_mid_is_a_decimal_price() -> None:
    config = SyntheticBookConfig.model_validate(CONFIG)
    assert config.markets[0].mid == Decimal("3000")
