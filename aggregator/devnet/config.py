"""Devnet configuration: chains, assets, pools and funding, loaded from ``config/devnet.toml``.

The file is found at ``$AGGREGATOR_DEVNET_CONFIG`` if set, else at
``config/devnet.toml`` in the repository.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Hashable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Final, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "AssetConfig",
    "ChainConfig",
    "DevnetConfig",
    "FundingConfig",
    "PoolConfig",
    "VenueConfig",
    "default_config_path",
    "load_devnet_config",
]

CONFIG_ENV: Final = "AGGREGATOR_DEVNET_CONFIG"

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SYMBOL_RE: Final = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")


def _exact_decimal(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("give prices as decimal strings, not floats")
    return value


PositiveDecimal = Annotated[
    Decimal, BeforeValidator(_exact_decimal), Field(gt=0, allow_inf_nan=False)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChainConfig(_Frozen):
    """One local EVM chain (one anvil process)."""

    key: str = Field(description="Short identifier used everywhere else, e.g. ``alpha``.")
    name: str = Field(min_length=1, description="Human-readable chain name.")
    chain_id: StrictInt = Field(gt=0, description="EIP-155 chain id; distinct per chain.")
    block_time: StrictInt = Field(
        ge=1,
        description="Seconds between blocks mined when idle; transactions are still "
        "mined as soon as they arrive (anvil mixed mining).",
    )
    confirmations: StrictInt = Field(
        ge=1, description="Blocks (including the including block) before a lock counts as final."
    )
    price_offset_bps: StrictInt = Field(
        gt=-10_000,
        lt=10_000,
        description="Every pool on this chain is priced at reference * (1 + offset / 10000).",
    )

    @model_validator(mode="after")
    def _key_shape(self) -> Self:
        if not _KEY_RE.match(self.key):
            raise ValueError(f"chain key {self.key!r} must be lowercase [a-z0-9_], 1-32 chars")
        return self


class AssetConfig(_Frozen):
    """One test token deployed on every chain."""

    symbol: str = Field(description="Canonical symbol, e.g. ``WETH``; also the token's symbol.")
    name: str = Field(min_length=1, description="ERC-20 name.")
    decimals: StrictInt = Field(ge=0, le=36, description="ERC-20 decimals.")
    reference_price_usd: PositiveDecimal = Field(
        description="Reference price of one whole token in US dollars (a decimal string)."
    )

    @model_validator(mode="after")
    def _symbol_shape(self) -> Self:
        if not _SYMBOL_RE.match(self.symbol):
            raise ValueError(f"asset symbol {self.symbol!r} must be uppercase [A-Z0-9]")
        return self


class PoolConfig(_Frozen):
    """One constant-product pool deployed on every chain (token0 = base, token1 = quote)."""

    base: str = Field(description="Symbol of the priced asset; the pool's token0.")
    quote: str = Field(description="Symbol the price is expressed in; the pool's token1.")


class FundingConfig(_Frozen):
    """Balances one account receives on every chain, in whole tokens."""

    native: StrictInt = Field(ge=0, description="Native coin balance set on each chain (ether).")
    tokens: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(
        default_factory=dict, description="Whole tokens minted per symbol on each chain."
    )


class _Funding(_Frozen):
    resolver: FundingConfig = Field(description="The service's own inventory account.")
    trader: FundingConfig = Field(description="The demo trader account.")


class VenueConfig(_Frozen):
    """The off-chain order-book venue started with the chains."""

    enabled: bool = Field(default=True, description="Start the venue with the chains.")
    config: str = Field(
        default="config/venue.toml",
        description="Venue config (markets, market maker), relative to the repository root.",
    )
    resolver_balances: dict[str, str] = Field(
        default_factory=lambda: {"USDC": "5000000", "WETH": "1500", "WBTC": "80"},
        description="The resolver's venue account balances, whole tokens as decimal strings.",
    )


class DevnetConfig(_Frozen):
    """The whole devnet: which chains to run and what to deploy on each."""

    chains: tuple[ChainConfig, ...] = Field(min_length=1, description="Chains to start.")
    assets: tuple[AssetConfig, ...] = Field(min_length=1, description="Tokens to deploy.")
    pools: tuple[PoolConfig, ...] = Field(description="Pools to deploy and seed on every chain.")
    pool_fee_bps: StrictInt = Field(ge=0, lt=10_000, description="Swap fee of every pool, bps.")
    pool_depth_usd: StrictInt = Field(
        gt=0, description="Value of each pool side at reference prices, whole US dollars."
    )
    funding: _Funding = Field(description="Resolver and trader balances on every chain.")
    startup_timeout_s: StrictInt = Field(
        default=20, gt=0, description="Seconds one anvil process may take to answer."
    )
    venue: VenueConfig = Field(default_factory=VenueConfig, description="The off-chain venue.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique("chain key", [c.key for c in self.chains])
        _unique("chain name", [c.name for c in self.chains])
        _unique("chain id", [c.chain_id for c in self.chains])
        _unique("asset symbol", [a.symbol for a in self.assets])
        symbols = {a.symbol for a in self.assets}
        pairs = []
        for pool in self.pools:
            for symbol in (pool.base, pool.quote):
                if symbol not in symbols:
                    raise ValueError(f"pool {pool.base}/{pool.quote}: unknown asset {symbol}")
            if pool.base == pool.quote:
                raise ValueError(f"pool {pool.base}/{pool.quote} pairs an asset with itself")
            pairs.append(frozenset((pool.base, pool.quote)))
        _unique("pool pair", pairs)
        for role in ("resolver", "trader"):
            for symbol in getattr(self.funding, role).tokens:
                if symbol not in symbols:
                    raise ValueError(f"{role} funding names unknown asset {symbol}")
        return self

    def asset(self, symbol: str) -> AssetConfig:
        """The asset with this symbol (``KeyError`` if unknown)."""
        for asset in self.assets:
            if asset.symbol == symbol:
                return asset
        raise KeyError(symbol)

    def chain(self, key: str) -> ChainConfig:
        """The chain with this key (``KeyError`` if unknown)."""
        for chain in self.chains:
            if chain.key == key:
                return chain
        raise KeyError(key)


def _unique(what: str, values: Sequence[Hashable]) -> None:
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value}")
        seen.add(value)


def default_config_path() -> Path:
    """``$AGGREGATOR_DEVNET_CONFIG`` if set, else ``config/devnet.toml`` in the repository."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return _REPO_ROOT / "config" / "devnet.toml"


def load_devnet_config(path: Path | None = None) -> DevnetConfig:
    """Read and validate the devnet configuration; :class:`ConfigError` if it is not valid."""
    source = path if path is not None else default_config_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("cannot read the devnet config", path=str(source)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"devnet config is not valid TOML: {exc}", path=str(source)) from exc
    try:
        return DevnetConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise ConfigError(
            f"invalid devnet config: {exc.error_count()} error(s)",
            path=str(source),
            errors=exc.errors(include_url=False),
        ) from exc
