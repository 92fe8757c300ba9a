"""The asset registry: canonical assets, their tokens per chain, venue symbols.

Built from ``config/assets.toml`` (canonical assets, venue symbols) plus the
chains' token addresses (a deployment manifest or a chain config). Every
lookup that can fail raises :class:`~aggregator.errors.UnknownAssetError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field

from aggregator.errors import ConfigError, UnknownAssetError
from aggregator.models.assets import Asset, AssetAt, Location, TokenInfo

__all__ = ["AssetRegistry", "AssetsConfig", "VenuePair", "load_assets_config"]

NATIVE = "0x0000000000000000000000000000000000000000"


class VenuePair(BaseModel):
    """A venue symbol and the canonical base and quote assets it trades."""

    model_config = ConfigDict(frozen=True)

    symbol: str = Field(description="The venue's own symbol, e.g. WETHUSDC.")
    base: str = Field(description="Canonical base asset.")
    quote: str = Field(description="Canonical quote asset.")


class AssetsConfig(BaseModel):
    """``config/assets.toml``: the canonical assets and the venue's symbols."""

    model_config = ConfigDict(frozen=True)

    assets: tuple[Asset, ...] = Field(description="Canonical assets.")
    venue_pairs: tuple[VenuePair, ...] = Field(
        default=(), description="Symbols of the off-chain venue, by canonical pair."
    )
    native: Mapping[str, str] = Field(
        default_factory=dict,
        description="Per chain key, the canonical asset its native coin is priced as (ETH->WETH).",
    )


def load_assets_config(path: Path) -> AssetsConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return AssetsConfig.model_validate(raw)


class AssetRegistry:
    """Immutable lookups between canonical assets, chain tokens and venue symbols."""

    def __init__(
        self,
        assets: Iterable[Asset],
        tokens: Iterable[TokenInfo] = (),
        venue_pairs: Iterable[VenuePair] = (),
    ) -> None:
        self._assets: dict[str, Asset] = {a.symbol: a for a in assets}
        self._tokens: dict[tuple[str, str], TokenInfo] = {}
        self._by_address: dict[tuple[int, str], TokenInfo] = {}
        self._chains: dict[str, int] = {}
        for token in tokens:
            asset = self.asset(token.asset)
            if token.decimals != asset.decimals:
                raise ConfigError(
                    f"{token.asset} on {token.chain} has {token.decimals} decimals, "
                    f"the canonical asset has {asset.decimals}"
                )
            address = to_checksum_address(token.address)
            token = token.model_copy(update={"address": address})
            self._tokens[(token.asset, token.chain)] = token
            self._by_address[(token.chain_id, address.lower())] = token
            self._chains[token.chain] = token.chain_id
        self._pairs: dict[str, VenuePair] = {}
        self._pair_by_assets: dict[tuple[str, str], VenuePair] = {}
        for pair in venue_pairs:
            self.asset(pair.base)
            self.asset(pair.quote)
            self._pairs[pair.symbol] = pair
            self._pair_by_assets[(pair.base, pair.quote)] = pair

    @property
    def assets(self) -> tuple[Asset, ...]:
        return tuple(self._assets.values())

    @property
    def chains(self) -> Mapping[str, int]:
        """Chain key to chain id, for every chain with a token."""
        return dict(self._chains)

    def asset(self, symbol: str) -> Asset:
        try:
            return self._assets[symbol]
        except KeyError:
            raise UnknownAssetError(f"unknown asset {symbol!r}", asset=symbol) from None

    def decimals(self, asset: str) -> int:
        return self.asset(asset).decimals

    def token(self, asset: str, chain: str) -> TokenInfo:
        try:
            return self._tokens[(asset, chain)]
        except KeyError:
            raise UnknownAssetError(
                f"asset {asset!r} has no token on chain {chain!r}", asset=asset, chain=chain
            ) from None

    def tokens(self, chain: str | None = None) -> tuple[TokenInfo, ...]:
        return tuple(t for t in self._tokens.values() if chain is None or t.chain == chain)

    def by_address(self, chain_id: int, address: str) -> TokenInfo:
        """The token at ``address`` on ``chain_id``; the address must be checksummed."""
        if not is_checksum_address(address):
            raise UnknownAssetError(
                f"{address!r} is not a checksummed address", address=address, chain_id=chain_id
            )
        try:
            return self._by_address[(chain_id, address.lower())]
        except KeyError:
            raise UnknownAssetError(
                f"no known token at {address} on chain {chain_id}",
                address=address,
                chain_id=chain_id,
            ) from None

    def chain_location(self, chain: str) -> Location:
        try:
            return Location.chain(chain, self._chains[chain])
        except KeyError:
            raise UnknownAssetError(f"unknown chain {chain!r}", chain=chain) from None

    def at(self, asset: str, location: Location) -> AssetAt:
        """An ``AssetAt`` after checking that the asset exists there."""
        self.asset(asset)
        if location.is_chain:
            self.token(asset, location.key)
        return AssetAt(asset=asset, location=location)

    def venue_pair(self, symbol: str) -> VenuePair:
        try:
            return self._pairs[symbol]
        except KeyError:
            raise UnknownAssetError(f"unknown venue symbol {symbol!r}", symbol=symbol) from None

    def venue_symbol(self, base: str, quote: str) -> str:
        try:
            return self._pair_by_assets[(base, quote)].symbol
        except KeyError:
            raise UnknownAssetError(f"no venue symbol for {base}/{quote}") from None

    @property
    def venue_pairs(self) -> tuple[VenuePair, ...]:
        return tuple(self._pairs.values())
