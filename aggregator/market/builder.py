"""Assembles one immutable :class:`MarketSnapshot` from every connector's latest state.

This is the one place where live connector state becomes the router's input:

* a connector that is not HEALTHY is left out with its reason (STALE or
  QUARANTINED), and so is each quarantined market of a healthy one, each as an
  :class:`~aggregator.models.Exclusion`;
* chain states come from connectors that expose ``chain_state()``;
* inventory lines are holdings minus reservations from an injected provider;
* reference prices are USD per whole unit: the numeraire (USDC) is 1, other
  assets the median mid of their markets against it (or against an asset
  already priced);
* ``topology_key`` hashes market ids and locations, so it changes only when
  the graph the router searches changes.

Nothing is validated here: inputs come from connectors that built them, and
models are assembled with ``model_construct`` so a snapshot costs little more
than reading memory.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from aggregator.errors import AggregatorError
from aggregator.market.snapshot import ChainState, InventoryLine, MarketSnapshot, TransferCost
from aggregator.models.assets import AssetAt
from aggregator.models.liquidity import Liquidity
from aggregator.models.market import Market
from aggregator.models.quote import Exclusion, ExclusionReason
from aggregator.plugins.protocol import Connector, HealthStatus

__all__ = [
    "ChainStateSource",
    "InventoryProvider",
    "SnapshotBuilder",
    "StaticInventory",
    "reference_prices",
    "topology_key",
]


@runtime_checkable
class ChainStateSource(Protocol):
    """A connector that also reports its chain's head and gas (the EVM AMM connector)."""

    def chain_state(self) -> ChainState: ...


@runtime_checkable
class InventoryProvider(Protocol):
    """The resolver's inventory, read synchronously from memory.

    A provider backed by a remote store keeps a local view current in the
    background; the builder never waits on I/O.
    """

    def holdings(self) -> Mapping[AssetAt, int]: ...

    def reservations(self) -> Mapping[AssetAt, int]: ...


class StaticInventory:
    """An in-memory :class:`InventoryProvider` (tests, demos, single process)."""

    def __init__(
        self,
        holdings: Mapping[AssetAt, int] | None = None,
        reservations: Mapping[AssetAt, int] | None = None,
    ) -> None:
        self._holdings = dict(holdings or {})
        self._reservations = dict(reservations or {})

    def holdings(self) -> Mapping[AssetAt, int]:
        return self._holdings

    def reservations(self) -> Mapping[AssetAt, int]:
        return self._reservations

    def set_holding(self, asset_at: AssetAt, amount: int) -> None:
        self._holdings[asset_at] = amount

    def reserve(self, asset_at: AssetAt, amount: int) -> None:
        self._reservations[asset_at] = self._reservations.get(asset_at, 0) + amount

    def release(self, asset_at: AssetAt, amount: int) -> None:
        left = self._reservations.get(asset_at, 0) - amount
        if left > 0:
            self._reservations[asset_at] = left
        else:
            self._reservations.pop(asset_at, None)


_EXCLUDED_STATUS: Mapping[HealthStatus, ExclusionReason] = {
    HealthStatus.STALE: ExclusionReason.STALE,
    HealthStatus.STARTING: ExclusionReason.STALE,
    HealthStatus.STOPPED: ExclusionReason.STALE,
    HealthStatus.QUARANTINED: ExclusionReason.QUARANTINED,
}


def topology_key(markets: Iterable[Market], locations: Iterable[str] = ()) -> str:
    """A short hash of market ids, their locations and extra location keys."""
    digest = hashlib.blake2b(digest_size=12)
    for market in sorted(markets, key=lambda m: m.id):
        loc = market.location
        digest.update(f"{market.id}|{loc.key}|{loc.chain_id}\n".encode())
    for key in sorted(set(locations)):
        digest.update(f"@{key}\n".encode())
    return digest.hexdigest()


def reference_prices(
    mids: Iterable[tuple[str, str, Decimal]],
    numeraire: str = "USDC",
    fixed: Mapping[str, Decimal] | None = None,
) -> dict[str, Decimal]:
    """USD per whole unit of each asset reachable from the numeraire through market mids.

    ``mids`` are ``(base, quote, mid)`` with the mid in quote per base. Each round
    prices every unpriced asset that trades against an asset priced in an
    earlier round, as the median over those markets; the numeraire (and
    ``fixed``) are given.
    """
    prices: dict[str, Decimal] = {numeraire: Decimal(1)}
    prices.update(fixed or {})
    neighbours: dict[str, list[tuple[str, Decimal, bool]]] = {}
    for base, quote, mid in mids:
        if mid > 0:
            neighbours.setdefault(base, []).append((quote, mid, True))
            neighbours.setdefault(quote, []).append((base, mid, False))
    frontier = list(prices)
    while frontier:
        found: dict[str, list[Decimal]] = {}
        for priced in frontier:
            for other, mid, priced_is_base in neighbours.get(priced, ()):
                if other not in prices:
                    value = prices[priced] / mid if priced_is_base else mid * prices[priced]
                    found.setdefault(other, []).append(value)
        for asset, values in found.items():
            prices[asset] = values[0] if len(values) == 1 else statistics.median(values)
        frontier = list(found)
    return prices


class SnapshotBuilder:
    """Builds snapshots of a fixed set of connectors; cheap to call per quote."""

    def __init__(
        self,
        connectors: Sequence[Connector],
        *,
        inventory: InventoryProvider | None = None,
        transfer_cost: TransferCost | None = None,
        numeraire: str = "USDC",
        max_age_ns: int | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._connectors = tuple(connectors)
        self._venues = tuple(c.name for c in self._connectors)
        self._inventory = inventory
        self._transfer_cost = transfer_cost or TransferCost()
        self._numeraire = numeraire
        self._max_age_ns = max_age_ns
        self._clock = clock
        self._chain_sources = tuple(
            c if isinstance(c, ChainStateSource) else None for c in self._connectors
        )
        self._last_topology: tuple[frozenset[str], frozenset[str]] | None = None
        self._last_key = ""
        self._mids: dict[str, tuple[Liquidity, Decimal | None]] = {}

    @property
    def connectors(self) -> tuple[Connector, ...]:
        return self._connectors

    def build(self) -> MarketSnapshot:
        now = self._clock()
        markets: dict[str, Market] = {}
        liquidity: dict[str, Liquidity] = {}
        chains: dict[str, ChainState] = {}
        excluded: list[Exclusion] = []
        for connector, chain_source in zip(self._connectors, self._chain_sources, strict=True):
            if chain_source is not None:
                try:
                    state = chain_source.chain_state()
                except AggregatorError:
                    pass
                else:
                    chains[state.key] = state
            health = connector.health()
            reason = _EXCLUDED_STATUS.get(health.status)
            if reason is not None:
                excluded.append(
                    Exclusion.model_construct(
                        venue=connector.name,
                        market_id=None,
                        reason=reason,
                        detail=health.reason or health.status.value,
                    )
                )
                continue
            quarantined = health.quarantined
            for market in connector.markets():
                if market.id in quarantined:
                    excluded.append(
                        Exclusion.model_construct(
                            venue=connector.name,
                            market_id=market.id,
                            reason=ExclusionReason.QUARANTINED,
                            detail=quarantined[market.id],
                        )
                    )
                    continue
                liq = connector.liquidity(market.id)
                if liq is None or (
                    self._max_age_ns is not None and now - liq.ts_recv > self._max_age_ns
                ):
                    detail = "no data yet" if liq is None else f"data {now - liq.ts_recv} ns old"
                    excluded.append(
                        Exclusion.model_construct(
                            venue=connector.name,
                            market_id=market.id,
                            reason=ExclusionReason.STALE,
                            detail=detail,
                        )
                    )
                    continue
                markets[market.id] = market
                liquidity[market.id] = liq
        inventory = self._inventory_lines()
        return MarketSnapshot.model_construct(
            ts_recv=now,
            markets=markets,
            liquidity=liquidity,
            chains=chains,
            inventory=inventory,
            transfer_cost=self._transfer_cost,
            reference_prices=reference_prices(self._quotes(markets, liquidity), self._numeraire),
            venues=self._venues,
            excluded=tuple(excluded),
            topology_key=self._topology(markets, inventory),
        )

    def _quotes(
        self, markets: Mapping[str, Market], liquidity: Mapping[str, Liquidity]
    ) -> list[tuple[str, str, Decimal]]:
        """(base, quote, mid) of every included market; a mid is computed once per state."""
        out = []
        cache = self._mids
        for market_id, liq in liquidity.items():
            cached = cache.get(market_id)
            if cached is not None and cached[0] is liq:
                mid = cached[1]
            else:
                mid = liq.mid_price()
                cache[market_id] = (liq, mid)
            if mid is not None:
                market = markets[market_id]
                out.append((market.base.asset, market.quote.asset, mid))
        return out

    def _inventory_lines(self) -> tuple[InventoryLine, ...]:
        if self._inventory is None:
            return ()
        holdings = self._inventory.holdings()
        reserved = self._inventory.reservations()
        lines = []
        for asset_at in sorted(holdings, key=str):
            available = max(holdings[asset_at] - reserved.get(asset_at, 0), 0)
            lines.append(InventoryLine.model_construct(asset_at=asset_at, available=available))
        return tuple(lines)

    def _topology(self, markets: Mapping[str, Market], inventory: Sequence[InventoryLine]) -> str:
        locations = frozenset(str(line.asset_at) for line in inventory)
        signature = (frozenset(markets), locations)
        if signature != self._last_topology:
            self._last_topology = signature
            self._last_key = topology_key(markets.values(), locations)
        return self._last_key
