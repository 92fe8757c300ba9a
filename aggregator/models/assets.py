"""Assets and where they sit.

An :class:`Asset` is canonical (``USDC``); a :class:`Location` is a chain (by
key and chain id) or the off-chain venue (its account); an :class:`AssetAt` is
the pair. The :class:`AssetRegistry` maps a canonical asset to one token per
chain (address and decimals) and to the venue's symbol.

An asset has the same number of decimals at every location, so a base-unit
amount means the same value wherever the asset sits (the registry enforces it).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Asset",
    "AssetAt",
    "Location",
    "LocationKind",
    "TokenInfo",
]


class LocationKind(StrEnum):
    CHAIN = "chain"
    VENUE = "venue"


class Asset(BaseModel):
    """A canonical asset, the same thing on every chain and venue."""

    model_config = ConfigDict(frozen=True)

    symbol: str = Field(description="Canonical symbol, e.g. USDC.", pattern=r"^[A-Z0-9]{2,12}$")
    name: str = Field(default="", description="Human-readable name.")
    decimals: int = Field(ge=0, le=36, description="Decimals of one whole unit.")


class Location(BaseModel):
    """A chain (by key and chain id) or an off-chain venue account."""

    model_config = ConfigDict(frozen=True)

    kind: LocationKind
    key: str = Field(description="Unique key: the chain key (alpha) or the venue key (clob).")
    chain_id: int | None = Field(default=None, description="EVM chain id; None for a venue.")

    @model_validator(mode="after")
    def _chain_id_matches_kind(self) -> Location:
        if (self.kind is LocationKind.CHAIN) != (self.chain_id is not None):
            raise ValueError("a chain location needs a chain_id and a venue location has none")
        return self

    @classmethod
    def chain(cls, key: str, chain_id: int) -> Location:
        return cls(kind=LocationKind.CHAIN, key=key, chain_id=chain_id)

    @classmethod
    def venue(cls, key: str) -> Location:
        return cls(kind=LocationKind.VENUE, key=key, chain_id=None)

    @property
    def is_chain(self) -> bool:
        return self.kind is LocationKind.CHAIN

    def __hash__(self) -> int:
        # the generic frozen-model hash is a Python call per model; locations, assets at
        # locations and quote requests are dictionary keys on every quote
        return hash((self.key, self.chain_id))

    def __str__(self) -> str:
        return self.key


class AssetAt(BaseModel):
    """An asset at one location: a node of the routing graph."""

    model_config = ConfigDict(frozen=True)

    asset: str = Field(description="Canonical asset symbol.")
    location: Location

    def __hash__(self) -> int:  # equal ones have equal fields: see Location.__hash__
        location = self.location
        return hash((self.asset, location.key, location.chain_id))

    def __str__(self) -> str:
        return f"{self.asset}@{self.location.key}"


class TokenInfo(BaseModel):
    """One canonical asset's token on one chain."""

    model_config = ConfigDict(frozen=True)

    asset: str
    chain: str = Field(description="Chain key.")
    chain_id: int
    address: str = Field(description="Checksummed token address; the zero address is native.")
    decimals: int = Field(ge=0, le=36)
