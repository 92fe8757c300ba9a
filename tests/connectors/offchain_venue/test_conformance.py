"""The connector conformance kit, run against this connector on the local venue.

The source is stopped for the staleness case by pausing the venue process (SIGSTOP) and
restarted with SIGCONT: the stream stays open but falls silent, as a stalled venue's would.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

import pytest

from aggregator.models import AssetRegistry, Side
from aggregator.plugins import Connector, ConnectorContext
from aggregator.plugins.conformance import ConnectorConformance, ExecutionProbe
from connectors.offchain_venue import OffchainVenueConfig, OffchainVenueConnector, plugin
from tests.fixtures.venue import VenueServer

from .conftest import VENUE


class TestOffchainVenueConformance(ConnectorConformance):
    staleness_bound_s = 5.0
    recovery_bound_s = 10.0

    @pytest.fixture(autouse=True)
    def _on_venue(self, venue_server: VenueServer, registry: AssetRegistry) -> None:
        self.venue = venue_server
        self.registry = registry

    async def make_connector(self) -> Connector:
        config = OffchainVenueConfig(
            rest_url=self.venue.rest_url,
            ws_url=self.venue.ws_url,
            api_key=self.venue.api_key,
            api_secret=self.venue.api_secret,
            staleness_s=1.0,
        )
        context = ConnectorContext(registry=self.registry, instance_name=VENUE, extras={})
        return plugin.factory(config, context)

    async def stop_source(self, connector: Connector) -> None:
        os.kill(self.venue.pid, signal.SIGSTOP)

    async def restart_source(self, connector: Connector) -> None:
        os.kill(self.venue.pid, signal.SIGCONT)

    def execution_probe(self) -> ExecutionProbe:
        return ExecutionProbe(market_id=f"{VENUE}:WETHUSDC", side=Side.SELL_BASE, amount_in=10**17)

    async def balances(self, connector: Connector) -> Mapping[str, int]:
        assert isinstance(connector, OffchainVenueConnector)
        held = await connector.balances()
        return {asset: b.free + b.locked for asset, b in held.items()}
