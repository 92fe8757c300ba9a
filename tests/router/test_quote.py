"""The quote: exact amounts, costs, settlement plan, comparison with one path, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aggregator.errors import (
    InsufficientLiquidityError,
    NoLiquidityError,
    UnknownAssetError,
    ValidationError,
)
from aggregator.models import (
    AssetAt,
    Liquidity,
    Location,
    Market,
    Quote,
    QuoteMode,
    QuoteRequest,
)
from aggregator.models.timelocks import timelock_plan
from aggregator.router import Router, RouterConfig, amm_legs, replay_outputs
from tests.router.factory import DECIMALS, at, book, ladder, pool, snapshot, units

BPS = 10_000


def _markets() -> list[tuple[Market, Liquidity]]:
    bids, asks = ladder(Decimal(3000), 2, 100, units("WETH", 3))
    return [
        pool("alpha", "WETH", "USDC", base_amount=1_000),
        pool("beta", "WETH", "USDC", base_amount=1_000, price=3_010),
        pool("alpha", "WBTC", "USDC", base_amount=50),
        pool("alpha", "WBTC", "WETH", base_amount=50),
        book("WETH", "USDC", bids, asks),
    ]


def _request(**kw: object) -> QuoteRequest:
    fields: dict[str, object] = {
        "sell": at("USDC", "alpha"),
        "buy": at("WETH", "beta"),
        "amount": units("USDC", 500_000),
    }
    fields.update(kw)
    return QuoteRequest.model_validate(fields)


def _check_shape(quote: Quote) -> None:
    assert sum(p.share_bps for p in quote.paths) == BPS
    for path in quote.paths:
        assert all(leg.share_bps == path.share_bps for leg in path.legs)
        assert path.amount_in == path.legs[0].amount_in
        assert path.amount_out == path.legs[-1].amount_out
        for before, after in zip(path.legs, path.legs[1:], strict=False):
            assert after.amount_in <= before.amount_out
            assert after.asset_in == before.asset_out
        assert path.legs[0].asset_in == quote.request.sell
        assert path.legs[-1].asset_out == quote.request.buy
    assert quote.amount_in == sum(p.amount_in for p in quote.paths)


def test_exact_in_quote_is_consistent() -> None:
    snap = snapshot(_markets())
    request = _request(slippage_bps=37)
    quote = Router().quote(snap, request, now_ns=5_000_000_000)
    _check_shape(quote)
    assert quote.amount_in == request.amount
    gross = sum(p.amount_out for p in quote.paths)
    assert quote.amount_out == gross - quote.costs.gas - quote.costs.settlement_gas
    assert quote.min_amount_out == quote.amount_out * (BPS - 37) // BPS
    assert quote.created_ns == 5_000_000_000
    assert quote.expires_ns == 5_000_000_000 + 30 * 10**9
    assert quote.snapshot_ns == snap.ts_recv and quote.compute_ns > 0
    assert len(quote.id) == 32 and int(quote.id, 16) >= 0
    expected = (Decimal(quote.amount_out) / Decimal(quote.amount_in)).scaleb(
        DECIMALS["USDC"] - DECIMALS["WETH"]
    )
    assert quote.effective_price == expected
    assert Decimal("0.0003") < quote.effective_price < Decimal("0.00034")
    assert quote.costs.venue_fees > 0 and quote.costs.transfer > 0
    assert set(quote.costs.gas_wei_by_chain) >= {"alpha", "beta"}
    # every leg pays at least what the quote says when replayed on the snapshot
    for leg, out in zip(quote.legs, replay_outputs(quote, snap), strict=True):
        assert out is not None and out >= leg.amount_out
    # the model validates what the router built without validation
    assert Quote.model_validate(quote.model_dump()) == quote


def test_settlement_plan_uses_the_timelock_policy() -> None:
    snap = snapshot(_markets())
    quote = Router().quote(snap, _request())
    plan = timelock_plan(RouterConfig().timelocks, snap.chains["alpha"], snap.chains["beta"])
    s = quote.settlement
    assert (s.source_chain, s.source_chain_id) == ("alpha", 31_337)
    assert (s.destination_chain, s.destination_chain_id) == ("beta", 31_338)
    assert (s.source_timelock_s, s.destination_timelock_s, s.eta_s) == tuple(plan)


def test_split_beats_the_best_single_path_and_says_by_how_much() -> None:
    snap = snapshot(_markets())
    quote = Router().quote(snap, _request(amount=units("USDC", 1_500_000)))
    assert len(quote.paths) >= 2
    assert 0 < quote.best_single_path_out < quote.amount_out
    improvement = (quote.amount_out - quote.best_single_path_out) / quote.best_single_path_out
    assert abs(float(quote.improvement_bps) - improvement * BPS) < 0.01
    small = Router().quote(snap, _request(amount=units("USDC", 100)))
    assert len(small.paths) == 1 and small.improvement_bps == 0
    assert small.best_single_path_out == small.amount_out


def test_price_impact_grows_with_size() -> None:
    snap = snapshot(_markets())
    impacts = [
        Router().quote(snap, _request(amount=units("USDC", size))).price_impact_bps
        for size in (1_000, 100_000, 2_000_000)
    ]
    assert impacts == sorted(impacts) and impacts[-1] > impacts[0]


def test_exact_out_delivers_the_amount_with_the_least_input_found() -> None:
    snap = snapshot(_markets())
    want = units("WETH", 150)
    quote = Router().quote(snap, _request(mode=QuoteMode.EXACT_OUT, amount=want))
    _check_shape(quote)
    assert quote.amount_out == quote.min_amount_out == want
    gross = sum(p.amount_out for p in quote.paths)
    assert gross - quote.costs.gas - quote.costs.settlement_gas >= want
    for leg, out in zip(quote.legs, replay_outputs(quote, snap), strict=True):
        assert out is not None and out >= leg.amount_out
    # selling that input gives the amount back, to the search's resolution
    back = Router().quote(snap, _request(amount=quote.amount_in))
    assert back.amount_out >= want * (1 - 1e-6)
    less = Router().quote(snap, _request(amount=quote.amount_in * 9_990 // BPS))
    assert less.amount_out < want


def test_same_location_and_transfer_only_requests() -> None:
    snap = snapshot(_markets())
    same = Router().quote(snap, _request(buy=at("WETH", "alpha")))
    _check_shape(same)
    assert any(len(p.legs) == 1 for p in same.paths)
    moved = Router().quote(snap, _request(buy=at("USDC", "beta"), amount=units("USDC", 1_000)))
    assert [leg.kind for leg in moved.legs] == ["transfer"]
    bps = snap.transfer_cost.bps
    fee = -(-units("USDC", 1_000) * bps // BPS)
    assert moved.amount_out == units("USDC", 1_000) - fee - moved.costs.gas - (
        moved.costs.settlement_gas
    )


def test_amm_legs_list_pool_swaps_in_execution_order() -> None:
    snap = snapshot(_markets())
    quote = Router().quote(snap, _request(amount=units("USDC", 1_500_000)))
    swaps = amm_legs(quote, snap)
    pool_legs = [
        (i, leg)
        for i, leg in enumerate(quote.legs)
        if leg.market_id and ":" in leg.market_id and not leg.market_id.startswith("clob")
    ]
    assert [s.order for s in swaps] == [i for i, _ in pool_legs]
    for swap, (_, leg) in zip(swaps, pool_legs, strict=True):
        assert swap.pool == snap.markets[leg.market_id or ""].address
        assert (swap.amount_in, swap.amount_out) == (leg.amount_in, leg.amount_out)


def test_typed_errors() -> None:
    snap = snapshot(_markets())
    router = Router()
    with pytest.raises(UnknownAssetError):
        router.quote(
            snap, _request(sell=AssetAt(asset="DOGE", location=Location.chain("alpha", 31_337)))
        )
    with pytest.raises(UnknownAssetError):
        router.quote(snap, _request(buy=AssetAt(asset="WETH", location=Location.chain("zeta", 9))))
    with pytest.raises(ValidationError):
        router.quote(snap, _request(buy=AssetAt(asset="WETH", location=Location.venue("clob"))))
    with pytest.raises(ValidationError):
        router.quote(snap, _request(buy=at("USDC", "alpha")))
    nothing_on_beta = snapshot(_markets(), inventory={at("USDC", "alpha"): units("USDC", 10**6)})
    with pytest.raises(NoLiquidityError):
        router.quote(nothing_on_beta, _request())
    with pytest.raises(UnknownAssetError):
        router.quote(snapshot(_markets()[:1]), _request(buy=at("WBTC", "beta")))
    # with the registry's decimals the asset is known, and a transfer can carry it
    known = Router(decimals=DECIMALS)
    moved = known.quote(
        snapshot(_markets()[:1]),
        _request(sell=at("WBTC", "alpha"), buy=at("WBTC", "beta"), amount=units("WBTC", 1)),
    )
    assert [leg.kind for leg in moved.legs] == ["transfer"]
    book_only = snapshot(_markets()[-1:])
    router.quote(book_only, _request(amount=units("USDC", 500_000)))
    with pytest.raises(InsufficientLiquidityError):
        router.quote(book_only, _request(amount=units("USDC", 5_000_000)))
    poor = snapshot(
        _markets(),
        inventory={at("WETH", "beta"): units("WETH", 1), at("USDC", "beta"): units("USDC", 10**6)},
    )
    with pytest.raises(InsufficientLiquidityError) as raised:
        router.quote(poor, _request(amount=units("USDC", 10_000)))
    assert raised.value.details["available"] == units("WETH", 1)
    assert isinstance(raised.value, NoLiquidityError)


def test_too_small_to_pay_for_gas() -> None:
    snap = snapshot(_markets(), gas_gwei={"alpha": 500, "beta": 500})
    with pytest.raises(NoLiquidityError):
        Router().quote(snap, _request(amount=units("USDC", 5)))


def test_inventory_override_bounds_transfers() -> None:
    snap = snapshot(_markets())
    router = Router()
    full = router.quote(snap, _request())
    landing = {leg.asset_out for leg in full.legs if leg.kind == "transfer"}
    assert at("USDC", "beta") in landing or at("WETH", "beta") in landing
    inventory = {line.asset_at: line.available for line in snap.inventory}
    inventory[at("USDC", "beta")] = 0
    inventory[at("USDC", "clob")] = 0
    limited = router.quote(snap, _request(), inventory=inventory)
    assert all(
        leg.asset_out not in (at("USDC", "beta"), at("USDC", "clob"))
        for leg in limited.legs
        if leg.kind == "transfer"
    )
    assert limited.amount_out <= full.amount_out


def test_gas_is_valued_through_reference_prices() -> None:
    snap = snapshot(_markets())
    usdc_out = _request(sell=at("WETH", "alpha"), buy=at("USDC", "beta"), amount=units("WETH", 10))
    quote = Router().quote(snap, usdc_out)
    wei = sum(quote.costs.gas_wei_by_chain.values())
    # gas in USDC is the wei at 3000 USDC per WETH, rounded up per chain
    assert quote.costs.gas + quote.costs.settlement_gas >= wei * 3000 * 10**6 // 10**18
    assert quote.costs.gas + quote.costs.settlement_gas <= wei * 3000 * 10**6 // 10**18 + 4
    unpriced = snap.model_copy(update={"reference_prices": {"USDC": Decimal(1)}})
    with pytest.raises(NoLiquidityError):
        Router().quote(unpriced, usdc_out)
    # gas paid in the output asset itself needs no price
    weth_out = Router().quote(unpriced, _request())
    assert weth_out.costs.settlement_gas == sum(
        (RouterConfig().htlc_lock_gas + RouterConfig().htlc_claim_gas) * chain.gas_price_wei
        for chain in (snap.chains["alpha"], snap.chains["beta"])
    )
