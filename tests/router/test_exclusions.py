"""Every configured venue and market is either in a quote's legs or excluded with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import (
    Exclusion,
    ExclusionReason,
    Liquidity,
    Market,
    Quote,
    QuoteRequest,
)
from aggregator.router import Router, RouterConfig
from tests.router.factory import at, book, ladder, pool, snapshot, units

R = ExclusionReason


def _markets() -> list[tuple[Market, Liquidity]]:
    bids, asks = ladder(Decimal(3000), 2, 50, units("WETH", 5))
    return [
        pool("alpha", "WETH", "USDC", base_amount=2_000),
        pool("beta", "WETH", "USDC", base_amount=2_000),
        pool("gamma", "WETH", "USDC", base_amount=2_000),
        book("WETH", "USDC", bids, asks),
    ]


def _request(**kw: object) -> QuoteRequest:
    fields: dict[str, object] = {
        "sell": at("USDC", "alpha"),
        "buy": at("WETH", "alpha"),
        "amount": units("USDC", 200_000),
    }
    fields.update(kw)
    return QuoteRequest.model_validate(fields)


def assert_complete(quote: Quote, snap: MarketSnapshot) -> None:
    """Each venue and market: used by a leg, or excluded with a reason (venues once)."""
    used_markets = {leg.market_id for leg in quote.legs if leg.kind == "trade"}
    used_venues = {leg.venue for leg in quote.legs if leg.kind == "trade"}
    by_market: dict[str, list[Exclusion]] = {}
    by_venue: dict[str, list[Exclusion]] = {}
    for exclusion in quote.excluded:
        assert isinstance(exclusion.reason, ExclusionReason)
        if exclusion.market_id is None:
            by_venue.setdefault(exclusion.venue, []).append(exclusion)
        else:
            by_market.setdefault(exclusion.market_id, []).append(exclusion)
    for venue in snap.venues:
        if venue in used_venues:
            assert venue not in by_venue, f"{venue} is used and excluded"
        else:
            assert len(by_venue.get(venue, [])) == 1, f"{venue}: {by_venue.get(venue)}"
    for market_id in snap.markets:
        if market_id in used_markets:
            assert market_id not in by_market
        else:
            assert len(by_market.get(market_id, [])) == 1, (
                f"{market_id}: {by_market.get(market_id)}"
            )


def _reasons(quote: Quote) -> dict[str | None, ExclusionReason]:
    return {e.market_id or e.venue: e.reason for e in quote.excluded}


def test_stale_venue_is_copied_from_the_snapshot() -> None:
    markets = _markets()
    stale = Exclusion(venue="beta-amm", reason=R.STALE, detail="no head for 3 blocks")
    snap = snapshot(markets, excluded=[stale], without_liquidity=["beta:WETHUSDC"])
    quote = Router().quote(snap, _request())
    assert_complete(quote, snap)
    assert stale in quote.excluded
    assert _reasons(quote)["beta:WETHUSDC"] is R.STALE
    assert all(leg.venue != "beta-amm" for leg in quote.legs)


def test_quarantined_market_is_never_used_even_with_liquidity() -> None:
    markets = _markets()
    quarantined = Exclusion(
        venue="clob", market_id="clob:WETHUSDC", reason=R.QUARANTINED, detail="sequence gap"
    )
    snap = snapshot(markets, excluded=[quarantined])
    quote = Router().quote(snap, _request(amount=units("USDC", 2_000_000)))
    assert_complete(quote, snap)
    assert quarantined in quote.excluded
    assert all(leg.market_id != "clob:WETHUSDC" for leg in quote.legs)
    assert _reasons(quote)["clob"] is R.QUARANTINED


def test_venue_without_markets_and_market_without_liquidity_are_no_market() -> None:
    markets = _markets()
    snap = snapshot(
        markets,
        venues=["alpha-amm", "beta-amm", "gamma-amm", "clob", "delta-amm"],
        without_liquidity=["gamma:WETHUSDC"],
    )
    quote = Router().quote(snap, _request())
    assert_complete(quote, snap)
    reasons = _reasons(quote)
    assert reasons["delta-amm"] is R.NO_MARKET
    assert reasons["gamma:WETHUSDC"] is R.NO_MARKET


def test_market_off_every_route_is_no_market() -> None:
    markets = [*_markets(), pool("beta", "WBTC", "WETH", base_amount=10)]
    snap = snapshot(markets)
    quote = Router(RouterConfig(hop_limit=2)).quote(snap, _request())
    assert_complete(quote, snap)
    assert _reasons(quote)["beta:WBTCWETH"] is R.NO_MARKET


def test_denied_and_not_allowed_venues() -> None:
    snap = snapshot(_markets())
    denied = Router().quote(snap, _request(venues_deny=frozenset({"clob", "beta-amm"})))
    assert_complete(denied, snap)
    assert _reasons(denied)["clob"] is R.DENIED
    assert _reasons(denied)["beta:WETHUSDC"] is R.DENIED
    allowed = Router().quote(snap, _request(venues_allow=frozenset({"alpha-amm"})))
    assert_complete(allowed, snap)
    assert {leg.venue for leg in allowed.legs if leg.kind == "trade"} == {"alpha-amm"}
    for venue in ("beta-amm", "gamma-amm", "clob"):
        assert _reasons(allowed)[venue] is R.NOT_ALLOWED


def test_markets_only_reachable_beyond_the_hop_limit() -> None:
    snap = snapshot(_markets())
    # sell on alpha, buy on alpha: the venue and other chains need transfer, trade, transfer
    quote = Router(RouterConfig(hop_limit=2)).quote(snap, _request())
    assert_complete(quote, snap)
    reasons = _reasons(quote)
    for market_id in ("beta:WETHUSDC", "gamma:WETHUSDC", "clob:WETHUSDC"):
        assert reasons[market_id] is R.HOP_LIMIT
    assert reasons["clob"] is R.HOP_LIMIT


def test_no_inventory_to_front_means_no_capacity() -> None:
    inventory = {
        at("WETH", "alpha"): units("WETH", 10_000),
        at("WETH", "beta"): units("WETH", 10_000),
        at("USDC", "beta"): units("USDC", 10_000_000),
    }
    snap = snapshot(_markets(), inventory=inventory)
    quote = Router().quote(snap, _request(amount=units("USDC", 2_000_000)))
    assert_complete(quote, snap)
    reasons = _reasons(quote)
    # no USDC or WETH held on the venue or on gamma: nothing can be fronted there
    assert reasons["clob:WETHUSDC"] is R.NO_CAPACITY
    assert reasons["gamma:WETHUSDC"] is R.NO_CAPACITY
    assert "beta:WETHUSDC" not in reasons


def test_share_below_minimum_size() -> None:
    markets = _markets()
    markets[1] = pool("beta", "WETH", "USDC", base_amount=2_000, min_size=units("WETH", 500))
    snap = snapshot(markets)
    quote = Router().quote(snap, _request(amount=units("USDC", 3_000_000)))
    assert_complete(quote, snap)
    assert _reasons(quote)["beta:WETHUSDC"] is R.BELOW_MIN_SIZE


def test_gas_exceeding_the_gain_drops_the_path() -> None:
    markets = _markets()[:2]
    snap = snapshot(markets, gas_gwei={"beta": 2_000})
    quote = Router().quote(snap, _request(amount=units("USDC", 20_000)))
    assert_complete(quote, snap)
    assert {leg.market_id for leg in quote.legs if leg.kind == "trade"} == {"alpha:WETHUSDC"}
    assert _reasons(quote)["beta:WETHUSDC"] is R.GAS_EXCEEDS_GAIN
    # with cheap gas the same order is split across both pools
    cheap = Router().quote(
        snapshot(markets, gas_gwei={"beta": 0.01}), _request(amount=units("USDC", 20_000))
    )
    assert {leg.market_id for leg in cheap.legs if leg.kind == "trade"} == {
        "alpha:WETHUSDC",
        "beta:WETHUSDC",
    }


def test_worse_price_is_not_used() -> None:
    dear = pool("alpha", "WETH", "USDC", base_amount=2_000, price=3_300, tag="dear")
    markets = [*_markets()[:1], dear]
    snap = snapshot(markets)
    quote = Router().quote(snap, _request(amount=units("USDC", 10_000)))
    assert_complete(quote, snap)
    assert _reasons(quote)["alpha:WETHUSDCdear"] is R.NOT_USED


@pytest.mark.parametrize("amount", [1_000, 100_000, 1_500_000])
def test_every_venue_accounted_for_at_any_size(amount: int) -> None:
    markets = [*_markets(), pool("gamma", "WBTC", "USDC", base_amount=40)]
    stale = Exclusion(venue="delta-amm", reason=R.STALE)
    snap = snapshot(
        markets,
        venues=["alpha-amm", "beta-amm", "gamma-amm", "clob", "delta-amm"],
        excluded=[stale],
    )
    quote = Router().quote(snap, _request(amount=units("USDC", amount), buy=at("WETH", "beta")))
    assert_complete(quote, snap)
