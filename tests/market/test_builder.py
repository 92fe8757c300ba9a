"""The snapshot builder: what goes in, what is left out and why, and derived fields."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal

import pydantic
import pytest

from aggregator.errors import StaleSourceError
from aggregator.market import ChainState, SnapshotBuilder, StaticInventory, topology_key
from aggregator.models import (
    AmmCurve,
    AssetAt,
    BookLevel,
    ExclusionReason,
    Liquidity,
    Location,
    Market,
    MarketKind,
    OrderBook,
)
from aggregator.plugins import (
    Capabilities,
    ExecutionRequest,
    ExecutionResult,
    Health,
    HealthStatus,
    LiquidityUpdate,
)

DECIMALS = {"USDC": 6, "WETH": 18, "WBTC": 8}


def market(venue: str, base: str, quote: str, location: Location) -> Market:
    kind = MarketKind.AMM if location.is_chain else MarketKind.BOOK
    return Market(
        id=f"{venue}:{base}{quote}",
        venue=venue,
        kind=kind,
        location=location,
        base=AssetAt(asset=base, location=location),
        quote=AssetAt(asset=quote, location=location),
        symbol=f"{base}{quote}",
        tick_size=Decimal("0.01"),
        lot_size=1,
        min_size=1,
        fee_bps=10,
        address="0x" + "1" * 40 if location.is_chain else None,
    )


def book(m: Market, bid: str, ask: str, sequence: int = 1) -> OrderBook:
    return OrderBook(
        market_id=m.id,
        bids=(BookLevel(Decimal(bid), 10**6),),
        asks=(BookLevel(Decimal(ask), 10**6),),
        base_decimals=DECIMALS[m.base.asset],
        quote_decimals=DECIMALS[m.quote.asset],
        sequence=sequence,
        ts_event=1,
        ts_recv=1_000,
    )


def curve(m: Market, reserve_base: int, reserve_quote: int, sequence: int = 1) -> AmmCurve:
    return AmmCurve(
        market_id=m.id,
        pool=m.address or "",
        reserve_base=reserve_base,
        reserve_quote=reserve_quote,
        fee_bps=m.fee_bps,
        base_decimals=DECIMALS[m.base.asset],
        quote_decimals=DECIMALS[m.quote.asset],
        sequence=sequence,
        ts_event=1,
        ts_recv=1_000,
    )


class FakeConnector:
    """An in-memory connector whose health and data the test sets directly."""

    def __init__(self, name: str, markets: Sequence[Market]) -> None:
        self.name = name
        self._markets = list(markets)
        self.data: dict[str, Liquidity] = {}
        self.status = HealthStatus.HEALTHY
        self.reason: str | None = None
        self.quarantined: dict[str, str] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def markets(self) -> Sequence[Market]:
        return self._markets

    def liquidity(self, market_id: str) -> Liquidity | None:
        return self.data.get(market_id)

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        return
        yield

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        return self.data[market_id]

    def health(self) -> Health:
        return Health(
            connector=self.name,
            status=self.status,
            reason=self.reason,
            quarantined=self.quarantined,
        )

    def capabilities(self) -> Capabilities:
        return Capabilities(supported=frozenset())

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise NotImplementedError


class FakeChain(FakeConnector):
    def __init__(self, name: str, markets: Sequence[Market], state: ChainState | None) -> None:
        super().__init__(name, markets)
        self.state = state

    def chain_state(self) -> ChainState:
        if self.state is None:
            raise StaleSourceError("no block yet")
        return self.state


CLOB = Location.venue("clob")
ALPHA = Location.chain("alpha", 31001)
BETA = Location.chain("beta", 31002)


def chain_state(key: str, chain_id: int) -> ChainState:
    return ChainState(
        key=key,
        chain_id=chain_id,
        head=10,
        head_time=1_700_000_000,
        block_time_s=1.0,
        confirmations=1,
        base_fee_wei=7,
        priority_fee_wei=1,
        native_asset="WETH",
        ts_recv=5,
    )


@pytest.fixture
def venues() -> tuple[FakeConnector, FakeChain, FakeChain]:
    clob = FakeConnector(
        "clob",
        [market("clob", "WETH", "USDC", CLOB), market("clob", "WBTC", "USDC", CLOB)],
    )
    for m, (bid, ask) in zip(clob.markets(), [("2999", "3001"), ("59990", "60010")], strict=True):
        clob.data[m.id] = book(m, bid, ask)
    alpha = FakeChain(
        "alpha",
        [market("alpha", "WETH", "USDC", ALPHA), market("alpha", "WBTC", "WETH", ALPHA)],
        chain_state("alpha", 31001),
    )
    weth_usdc, wbtc_weth = alpha.markets()
    alpha.data[weth_usdc.id] = curve(weth_usdc, 1_000 * 10**18, 2_990_000 * 10**6)
    alpha.data[wbtc_weth.id] = curve(wbtc_weth, 100 * 10**8, 2_000 * 10**18)
    beta = FakeChain("beta", [market("beta", "WETH", "USDC", BETA)], chain_state("beta", 31002))
    (b,) = beta.markets()
    beta.data[b.id] = curve(b, 10**18, 3_010 * 10**6)
    return clob, alpha, beta


def test_healthy_sources_are_all_in_with_their_own_objects(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    snapshot = SnapshotBuilder(venues).build()
    assert snapshot.venues == ("clob", "alpha", "beta")
    expected = {m.id: c for c in venues for m in c.markets()}
    assert set(snapshot.markets) == set(expected)
    for market_id, connector in expected.items():
        assert snapshot.liquidity[market_id] is connector.liquidity(market_id)
    assert snapshot.excluded == ()
    assert set(snapshot.chains) == {"alpha", "beta"}
    assert snapshot.chains["alpha"] is venues[1].state


def test_stale_and_quarantined_sources_are_left_out_with_the_reason(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    clob, alpha, beta = venues
    beta.status, beta.reason = HealthStatus.STALE, "RPC failing (3x)"
    weth_usdc = clob.markets()[0]
    clob.quarantined = {weth_usdc.id: "gap in update ids"}
    del alpha.data[alpha.markets()[1].id]
    snapshot = SnapshotBuilder(venues).build()

    assert set(snapshot.markets) == {clob.markets()[1].id, alpha.markets()[0].id}
    reasons = {(e.venue, e.market_id): (e.reason, e.detail) for e in snapshot.excluded}
    assert reasons == {
        ("beta", None): (ExclusionReason.STALE, "RPC failing (3x)"),
        ("clob", weth_usdc.id): (ExclusionReason.QUARANTINED, "gap in update ids"),
        ("alpha", alpha.markets()[1].id): (ExclusionReason.STALE, "no data yet"),
    }
    # a stale chain still reports its last known head for settlement planning
    assert "beta" in snapshot.chains

    clob.status, clob.reason = HealthStatus.QUARANTINED, None
    snapshot = SnapshotBuilder(venues).build()
    assert not any(m.venue == "clob" for m in snapshot.markets.values())
    (clob_exclusion,) = [e for e in snapshot.excluded if e.venue == "clob"]
    assert clob_exclusion.reason is ExclusionReason.QUARANTINED
    assert clob_exclusion.detail == "quarantined"


def test_old_data_is_stale_when_a_maximum_age_is_set(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    builder = SnapshotBuilder(venues, max_age_ns=500, clock=lambda: 1_501)
    snapshot = builder.build()
    assert snapshot.markets == {}
    assert {e.reason for e in snapshot.excluded} == {ExclusionReason.STALE}
    assert snapshot.ts_recv == 1_501
    assert len(SnapshotBuilder(venues, max_age_ns=500, clock=lambda: 1_500).build().markets) == 5


def test_chain_without_a_block_yet_has_no_chain_state(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    venues[2].state = None
    assert set(SnapshotBuilder(venues).build().chains) == {"alpha"}


def test_inventory_is_holdings_minus_reservations(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    usdc_alpha = AssetAt(asset="USDC", location=ALPHA)
    weth_clob = AssetAt(asset="WETH", location=CLOB)
    wbtc_beta = AssetAt(asset="WBTC", location=BETA)
    inventory = StaticInventory({usdc_alpha: 1_000, weth_clob: 50, wbtc_beta: 7})
    inventory.reserve(usdc_alpha, 300)
    inventory.reserve(usdc_alpha, 100)
    inventory.reserve(wbtc_beta, 9)
    inventory.reserve(weth_clob, 20)
    inventory.release(weth_clob, 20)
    snapshot = SnapshotBuilder(venues, inventory=inventory).build()
    assert snapshot.inventory_by_asset == {usdc_alpha: 600, weth_clob: 50, wbtc_beta: 0}
    assert [str(line.asset_at) for line in snapshot.inventory] == sorted(
        str(a) for a in (usdc_alpha, weth_clob, wbtc_beta)
    )


def test_reference_prices_come_from_mids_against_usdc_and_chain_through_others(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    clob, alpha, _ = venues
    snapshot = SnapshotBuilder(venues).build()
    prices = snapshot.reference_prices
    assert prices["USDC"] == 1
    weth_mids = [
        c.data[m.id].mid_price()
        for c in venues
        for m in c.markets()
        if (m.base.asset, m.quote.asset) == ("WETH", "USDC")
    ]
    assert prices["WETH"] == statistics.median(weth_mids)
    wbtc_direct = clob.data[clob.markets()[1].id].mid_price()
    assert prices["WBTC"] == wbtc_direct

    # without a WBTC/USDC market, WBTC is priced through WBTC/WETH and WETH's price
    clob.status = HealthStatus.STALE
    prices = SnapshotBuilder(venues).build().reference_prices
    wbtc_in_weth = alpha.data[alpha.markets()[1].id].mid_price()
    assert wbtc_in_weth is not None
    remaining = [m for m in weth_mids[1:] if m is not None]
    assert prices["WETH"] == statistics.median(remaining)
    assert prices["WBTC"] == wbtc_in_weth * prices["WETH"]


def test_topology_key_changes_only_with_topology(
    venues: tuple[FakeConnector, FakeChain, FakeChain],
) -> None:
    beta = venues[2]
    builder = SnapshotBuilder(venues)
    first = builder.build().topology_key
    # new prices and sequences: same graph
    (m,) = beta.markets()
    beta.data[m.id] = curve(m, 2 * 10**18, 5_000 * 10**6, sequence=2)
    assert builder.build().topology_key == first
    assert SnapshotBuilder(list(reversed(venues))).build().topology_key == first
    # a venue leaving changes it, and its return restores it
    beta.status = HealthStatus.STALE
    assert builder.build().topology_key != first
    beta.status = HealthStatus.HEALTHY
    assert builder.build().topology_key == first
    # a new inventory location changes it; a new amount at a known one does not
    inventory = StaticInventory({AssetAt(asset="USDC", location=ALPHA): 1})
    with_inventory = SnapshotBuilder(venues, inventory=inventory)
    keyed = with_inventory.build().topology_key
    assert keyed != first
    inventory.set_holding(AssetAt(asset="USDC", location=ALPHA), 99)
    assert with_inventory.build().topology_key == keyed
    assert keyed == topology_key([m for c in venues for m in c.markets()], ["USDC@alpha"])


def test_the_snapshot_is_immutable(venues: tuple[FakeConnector, FakeChain, FakeChain]) -> None:
    snapshot = SnapshotBuilder(venues).build()
    with pytest.raises(pydantic.ValidationError):
        snapshot.ts_recv = 0  # type: ignore[misc]
    assert isinstance(snapshot.reference_prices, Mapping)
