"""The trader's side of a swap: secrets on local disk, lock, check, claim or refund.

:class:`TraderClient` runs a swap against any :class:`SwapApi` (the settlement
service in process, or a client of the HTTP API); ``aggregator swap`` is its
command line on the devnet.
"""

from aggregator.client.trader import SwapApi, TraderClient, TraderOutcome, TraderResult
from aggregator.client.vault import SecretVault, VaultEntry

__all__ = [
    "SecretVault",
    "SwapApi",
    "TraderClient",
    "TraderOutcome",
    "TraderResult",
    "VaultEntry",
]
