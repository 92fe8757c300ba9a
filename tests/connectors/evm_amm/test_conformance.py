"""The connector conformance kit, run against the EVM AMM connector on the devnet.

The connector reaches chain alpha through a TCP relay, so the staleness case
can cut its source without stopping the chain the rest of the session shares.
Every case runs on a devnet snapshot that is reverted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlparse

import pytest

from aggregator.devnet.manifest import DevnetManifest
from aggregator.models import Side, load_assets_config
from aggregator.plugins import Connector, ConnectorContext
from aggregator.plugins.conformance import ConnectorConformance, ExecutionProbe
from aggregator.plugins.registry import asset_registry_for_manifest
from connectors.evm_amm import PLUGIN, EvmAmmConfig, EvmAmmConnector, configs_from_manifest
from tests.connectors.evm_amm.proxy import TcpRelay

pytestmark = pytest.mark.devnet

ASSETS_TOML = Path(__file__).resolve().parents[3] / "config" / "assets.toml"


@pytest.fixture(scope="module")
def relay(devnet: DevnetManifest) -> Iterator[TcpRelay]:
    url = urlparse(devnet.chains[0].rpc_url)
    assert url.hostname is not None and url.port is not None
    relay = TcpRelay(url.hostname, url.port)
    relay.start()
    yield relay
    relay.close()


class TestEvmAmmConformance(ConnectorConformance):
    staleness_bound_s = 5.0
    recovery_bound_s = 10.0

    @pytest.fixture(autouse=True)
    def _on_devnet(self, devnet_snapshot: DevnetManifest, relay: TcpRelay) -> None:
        self.manifest = devnet_snapshot
        self.relay = relay
        relay.resume()

    async def make_connector(self) -> Connector:
        chain = self.manifest.chains[0]
        (entry,) = [e for e in configs_from_manifest(self.manifest) if e["name"] == chain.key]
        config = EvmAmmConfig.model_validate({**entry["config"], "rpc_url": self.relay.url})
        registry = asset_registry_for_manifest(self.manifest, load_assets_config(ASSETS_TOML))
        context = ConnectorContext(registry=registry, instance_name=chain.key, extras={})
        return PLUGIN.factory(config, context)

    async def stop_source(self, connector: Connector) -> None:
        self.relay.cut()

    async def restart_source(self, connector: Connector) -> None:
        self.relay.resume()

    def execution_probe(self) -> ExecutionProbe:
        chain = self.manifest.chains[0]
        pool = chain.pool("WETH", "USDC")
        assert pool.symbol0 == "WETH"
        return ExecutionProbe(
            market_id=f"{chain.key}:{pool.address}", side=Side.SELL_BASE, amount_in=10**18
        )

    async def balances(self, connector: Connector) -> Mapping[str, int]:
        assert isinstance(connector, EvmAmmConnector)
        return await connector.balances()
