"""Reservations behind firm quotes: atomic, expiring, never promising the same units twice."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from aggregator.errors import InsufficientLiquidityError, NoLiquidityError
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import AssetAt, Liquidity, Market, QuoteMode, QuoteRequest
from aggregator.router import (
    InMemoryReservationStore,
    ReservationStore,
    Router,
    firm_quote,
    inventory_needs,
)
from tests.router.factory import at, book, ladder, pool, snapshot, units

A, B = at("USDC", "beta"), at("WETH", "beta")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def test_reserve_is_all_or_nothing() -> None:
    store = InMemoryReservationStore({A: 10, B: 10}, clock=Clock())
    assert isinstance(store, ReservationStore)
    assert not store.reserve("q1", {A: 5, B: 11}, expires_ns=10**18)
    assert store.reserved(A) == store.reserved(B) == 0
    assert store.reserve("q1", {A: 5, B: 10}, expires_ns=10**18)
    assert (store.available(A), store.available(B)) == (5, 0)
    assert not store.reserve("q2", {A: 5, B: 1}, expires_ns=10**18)
    assert store.available(A) == 5
    assert not store.reserve("q1", {A: 1}, expires_ns=10**18), "a quote id reserves once"


def test_release_and_expiry_give_inventory_back() -> None:
    clock = Clock()
    store = InMemoryReservationStore({A: 10}, clock=clock)
    assert store.reserve("q1", {A: 6}, expires_ns=2_000)
    assert store.reserve("q2", {A: 4}, expires_ns=5_000)
    store.release("q2")
    store.release("unknown")
    assert store.available(A) == 4
    clock.now = 2_000
    assert store.reserved(A) == 0 and store.available(A) == 10
    assert store.reserve("q1", {A: 10}, expires_ns=3_000), "an expired id can be reused"


def _snapshot() -> MarketSnapshot:
    bids, asks = ladder(Decimal(3000), 3, 60, units("WETH", 2))
    markets: list[tuple[Market, Liquidity]] = [
        pool("alpha", "WETH", "USDC", base_amount=800),
        pool("beta", "WETH", "USDC", base_amount=800),
        book("WETH", "USDC", bids, asks),
    ]
    inventory = {
        at("WETH", "beta"): units("WETH", 100),
        at("USDC", "beta"): units("USDC", 150_000),
        at("USDC", "clob"): units("USDC", 150_000),
        at("WETH", "alpha"): units("WETH", 1_000),
    }
    return snapshot(markets, inventory=inventory)


def _request(amount: int) -> QuoteRequest:
    return QuoteRequest(sell=at("USDC", "alpha"), buy=at("WETH", "beta"), amount=amount, firm=True)


def test_inventory_needs_cover_delivery_and_fronted_transfers() -> None:
    snap = _snapshot()
    quote = Router().quote(snap, _request(units("USDC", 200_000)))
    needs = inventory_needs(quote)
    assert needs[at("WETH", "beta")] == quote.amount_out
    fronted = {leg.asset_out for leg in quote.legs if leg.kind == "transfer"} - {B}
    assert fronted and fronted <= set(needs)
    for node in fronted:
        assert needs[node] == sum(
            leg.amount_out for leg in quote.legs if leg.kind == "transfer" and leg.asset_out == node
        )


def test_a_reservation_taken_between_pricing_and_reserving_forces_a_re_price() -> None:
    snap = _snapshot()
    router = Router()
    holdings = {line.asset_at: line.available for line in snap.inventory}
    store = InMemoryReservationStore(holdings)
    request = _request(units("USDC", 250_000))
    # two quotes priced on the same availability...
    first = router.quote(snap, request)
    second = router.quote(snap, request)
    assert inventory_needs(first) == inventory_needs(second)
    # ...can only both be reserved if together they fit
    assert store.reserve(first.id, inventory_needs(first), first.expires_ns)
    overlap = any(
        2 * need > holdings.get(node, 0) for node, need in inventory_needs(second).items()
    )
    assert overlap
    assert not store.reserve(second.id, inventory_needs(second), second.expires_ns)
    # firm_quote prices on what is left: not enough for the same order again...
    with pytest.raises(InsufficientLiquidityError):
        firm_quote(router, snap, request, store)
    # ...enough for a smaller one, whose inventory is then reserved too
    third = firm_quote(router, snap, _request(units("USDC", 20_000)), store)
    for node, need in inventory_needs(third).items():
        assert need <= holdings[node] - inventory_needs(first).get(node, 0)
        assert store.reserved(node) == need + inventory_needs(first).get(node, 0)


def test_concurrent_firm_quotes_never_promise_the_same_inventory() -> None:
    snap = _snapshot()
    holdings = {line.asset_at: line.available for line in snap.inventory}
    store = InMemoryReservationStore(holdings)
    router = Router()
    start = threading.Barrier(8)
    quotes, refusals = [], []
    lock = threading.Lock()

    def client(i: int) -> None:
        mode = QuoteMode.EXACT_OUT if i % 2 else QuoteMode.EXACT_IN
        amount = units("WETH", 30) if i % 2 else units("USDC", 90_000)
        request = QuoteRequest(sell=at("USDC", "alpha"), buy=B, amount=amount, mode=mode, firm=True)
        start.wait()
        for _ in range(3):
            try:
                quote = firm_quote(router, snap, request, store)
            except InsufficientLiquidityError:
                with lock:
                    refusals.append(i)
            else:
                with lock:
                    quotes.append(quote)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert quotes and refusals, "the inventory runs out part way"
    promised: dict[AssetAt, int] = {}
    for quote in quotes:
        for node, need in inventory_needs(quote).items():
            promised[node] = promised.get(node, 0) + need
    for node, total in promised.items():
        assert total <= holdings.get(node, 0), node
        assert store.reserved(node) == total


def test_firm_quote_gives_up_when_nothing_is_left() -> None:
    snap = _snapshot()
    store = InMemoryReservationStore({})
    with pytest.raises(NoLiquidityError):
        firm_quote(Router(), snap, _request(units("USDC", 1_000)), store)
