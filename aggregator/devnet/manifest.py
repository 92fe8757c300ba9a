"""The deployment manifest: what ``devnet up`` started and deployed, as one JSON file.

``<state dir>/manifest.json`` is written once every step of ``up`` has
succeeded. Other parts of the service (connectors, settlement, tests, the demo)
read chain endpoints, contract addresses and account keys from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
)
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import DevnetError

__all__ = [
    "MANIFEST_FILE",
    "AccountKey",
    "Address",
    "ChainDeployment",
    "DevnetAccounts",
    "DevnetManifest",
    "PoolDeployment",
    "ProcessRecord",
    "TokenDeployment",
    "VenueDeployment",
    "load_manifest",
    "manifest_path",
    "remove_manifest",
    "write_manifest",
]

MANIFEST_FILE: Final = "manifest.json"


def _checksum(value: object) -> object:
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    raise ValueError(f"not an address: {value!r}")


Address = Annotated[ChecksumAddress, BeforeValidator(_checksum)]
"""An EVM address, normalized to its EIP-55 checksum form."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProcessRecord(_Frozen):
    """A detached process started by ``up`` (leader of its own process group)."""

    name: str = Field(description="What it is, e.g. ``anvil-alpha`` or ``venue``.")
    pid: int = Field(gt=0, description="Process id; also its process group id.")
    start_ticks: int | None = Field(
        default=None,
        description="Start time from /proc (clock ticks since boot), so a reused pid is "
        "never mistaken for this process.",
    )
    log: str = Field(description="Path of the file receiving its stdout and stderr.")


class TokenDeployment(_Frozen):
    """One ERC-20 test token on one chain."""

    address: Address = Field(description="Token contract address.")
    decimals: int = Field(ge=0, description="ERC-20 decimals.")


class PoolDeployment(_Frozen):
    """One constant-product pool on one chain."""

    address: Address = Field(description="Pool contract address.")
    token0: Address = Field(description="Address of the pool's token0 (the base asset).")
    token1: Address = Field(description="Address of the pool's token1 (the quote asset).")
    symbol0: str = Field(description="Symbol of token0.")
    symbol1: str = Field(description="Symbol of token1.")
    fee_bps: int = Field(ge=0, description="Swap fee in basis points of the input.")
    seed_reserve0: int = Field(ge=0, description="token0 reserve as seeded by ``up``.")
    seed_reserve1: int = Field(ge=0, description="token1 reserve as seeded by ``up``.")

    @property
    def pair(self) -> str:
        """``token0/token1`` symbols, e.g. ``WETH/USDC``."""
        return f"{self.symbol0}/{self.symbol1}"


class ChainDeployment(_Frozen):
    """One running chain and the contracts deployed on it."""

    key: str = Field(description="Chain key from the devnet config, e.g. ``alpha``.")
    name: str = Field(description="Human-readable chain name.")
    chain_id: int = Field(gt=0, description="EIP-155 chain id.")
    rpc_url: str = Field(description="HTTP JSON-RPC endpoint (loopback).")
    ws_url: str = Field(description="WebSocket JSON-RPC endpoint (loopback, same port).")
    block_time: int = Field(ge=1, description="Seconds between blocks when idle.")
    confirmations: int = Field(ge=1, description="Confirmation depth for this chain.")
    price_offset_bps: int = Field(description="Pool price offset on this chain, bps.")
    pid: int = Field(gt=0, description="Process id of the chain's anvil.")
    htlc: Address = Field(description="HashedTimelock contract address.")
    deploy_block: int = Field(
        ge=0, description="Block of the HashedTimelock deployment: scan events from here."
    )
    tokens: dict[str, TokenDeployment] = Field(description="Test tokens by symbol.")
    pools: tuple[PoolDeployment, ...] = Field(description="Seeded constant-product pools.")

    def pool(self, symbol_a: str, symbol_b: str) -> PoolDeployment:
        """The pool trading these two symbols, in either order (``KeyError`` if none)."""
        wanted = {symbol_a, symbol_b}
        for pool in self.pools:
            if {pool.symbol0, pool.symbol1} == wanted:
                return pool
        raise KeyError(f"{symbol_a}/{symbol_b}")


class AccountKey(_Frozen):
    """A funded devnet account and its private key."""

    address: Address = Field(description="Account address.")
    private_key: SecretStr = Field(description="Hex private key (a publicly known devnet key).")

    @field_serializer("private_key", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()

    def local_account(self) -> LocalAccount:
        """An ``eth_account`` signer for this key."""
        account: LocalAccount = Account.from_key(self.private_key.get_secret_value())
        return account


class DevnetAccounts(_Frozen):
    """The three roles the devnet funds (same keys on every chain)."""

    deployer: AccountKey = Field(description="Deploys contracts and owns the test tokens.")
    resolver: AccountKey = Field(description="The service's inventory and settlement account.")
    trader: AccountKey = Field(description="A funded demo trader.")


class VenueDeployment(_Frozen):
    """The off-chain order-book venue started with the devnet."""

    rest_url: str = Field(description="REST base URL (loopback).")
    ws_url: str = Field(description="WebSocket URL (loopback).")
    pid: int = Field(gt=0, description="Process id of the venue server.")
    api_key: str = Field(description="API key of the service's venue account.")
    api_secret: SecretStr = Field(description="API secret of the service's venue account.")

    @field_serializer("api_secret", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()


class DevnetManifest(_Frozen):
    """Everything ``up`` started and deployed."""

    version: int = Field(default=1, description="Manifest format version.")
    created_ns: int = Field(description="When ``up`` finished, integer ns since the epoch.")
    chains: tuple[ChainDeployment, ...] = Field(description="Running chains, in config order.")
    accounts: DevnetAccounts = Field(description="Funded accounts and their keys.")
    venue: VenueDeployment | None = Field(default=None, description="Off-chain venue, if any.")
    processes: tuple[ProcessRecord, ...] = Field(
        description="Every process ``up`` started; ``down`` stops exactly these."
    )

    def chain(self, key: str) -> ChainDeployment:
        """The chain with this key (``KeyError`` if unknown)."""
        for chain in self.chains:
            if chain.key == key:
                return chain
        raise KeyError(key)


def manifest_path(state_dir: Path) -> Path:
    return state_dir / MANIFEST_FILE


def load_manifest(state_dir: Path) -> DevnetManifest:
    """Read ``manifest.json`` from the state dir; :class:`DevnetError` if absent or invalid."""
    path = manifest_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DevnetError("no devnet manifest: the devnet is not up", path=str(path)) from exc
    try:
        return DevnetManifest.model_validate_json(raw)
    except PydanticValidationError as exc:
        raise DevnetError("malformed devnet manifest", path=str(path)) from exc


def write_manifest(state_dir: Path, manifest: DevnetManifest) -> Path:
    """Write the manifest atomically (temp file, then rename); readable by the owner only."""
    path = manifest_path(state_dir)
    tmp = path.with_suffix(".json.tmp")
    data = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def remove_manifest(state_dir: Path) -> None:
    manifest_path(state_dir).unlink(missing_ok=True)
