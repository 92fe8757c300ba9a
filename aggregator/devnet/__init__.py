"""Local multi-chain devnet: anvil chains with the settlement contracts and seeded pools.

``await up(config, state_dir)`` starts one anvil per configured chain, deploys
the HashedTimelock, the test tokens and price-offset AMM pools, funds the
resolver and the demo trader, and writes a :class:`DevnetManifest`;
``down(state_dir)`` stops exactly what ``up`` started. The CLI is
``aggregator devnet up|status|down``.
"""

from aggregator.devnet.config import DevnetConfig, load_devnet_config
from aggregator.devnet.context import ChainRuntime, Step, UpContext
from aggregator.devnet.lifecycle import (
    DEFAULT_STEPS,
    chain_heights,
    default_state_dir,
    down,
    running_manifest,
    up,
)
from aggregator.devnet.manifest import (
    AccountKey,
    ChainDeployment,
    DevnetAccounts,
    DevnetManifest,
    PoolDeployment,
    ProcessRecord,
    TokenDeployment,
    VenueDeployment,
    load_manifest,
)

__all__ = [
    "DEFAULT_STEPS",
    "AccountKey",
    "ChainDeployment",
    "ChainRuntime",
    "DevnetAccounts",
    "DevnetConfig",
    "DevnetManifest",
    "PoolDeployment",
    "ProcessRecord",
    "Step",
    "TokenDeployment",
    "UpContext",
    "VenueDeployment",
    "chain_heights",
    "default_state_dir",
    "down",
    "load_devnet_config",
    "load_manifest",
    "running_manifest",
    "up",
]
