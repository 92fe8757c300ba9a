"""The devnet's accounts: anvil's publicly known test mnemonic, indexes 0 to 2.

These keys are public knowledge and only ever hold devnet play money; nothing
outside the devnet may fall back to them.
"""

from __future__ import annotations

from typing import Final

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from pydantic import SecretStr

from aggregator.devnet.manifest import AccountKey, DevnetAccounts

__all__ = ["DEPLOYER_INDEX", "DEVNET_MNEMONIC", "RESOLVER_INDEX", "TRADER_INDEX", "devnet_accounts"]

DEVNET_MNEMONIC: Final = "test test test test test test test test test test test junk"
DEPLOYER_INDEX: Final = 0
RESOLVER_INDEX: Final = 1
TRADER_INDEX: Final = 2


def _account(seed: bytes, index: int) -> AccountKey:
    key = key_from_seed(seed, f"m/44'/60'/0'/0/{index}")
    return AccountKey(
        address=Account.from_key(key).address, private_key=SecretStr("0x" + key.hex())
    )


def devnet_accounts() -> DevnetAccounts:
    """Deployer, resolver and trader derived from the devnet mnemonic."""
    seed = seed_from_mnemonic(DEVNET_MNEMONIC, "")
    return DevnetAccounts(
        deployer=_account(seed, DEPLOYER_INDEX),
        resolver=_account(seed, RESOLVER_INDEX),
        trader=_account(seed, TRADER_INDEX),
    )
