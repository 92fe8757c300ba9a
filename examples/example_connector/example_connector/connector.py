"""The connector: normalizes the synthetic venue into markets, books and fills.

It satisfies :class:`aggregator.plugins.Connector` by composition (it holds a
:class:`~example_connector.venue.SyntheticVenue`), with no base class.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

from aggregator.errors import StaleSourceError, VenueRejectedError
from aggregator.models import Location, Market, MarketKind, OrderBook, Side
from aggregator.plugins import (
    Capabilities,
    Capability,
    ConnectorContext,
    ExecutionRequest,
    ExecutionResult,
    Fill,
    Health,
    HealthStatus,
    LiquidityUpdate,
)
from example_connector.config import SyntheticBookConfig
from example_connector.venue import Fill as VenueFill
from example_connector.venue import SyntheticVenue, VenueBook, price_of

__all__ = ["SyntheticBookConnector"]

_QUEUE_SIZE = 10_000


class SyntheticBookConnector:
    """A connector instance for one synthetic venue."""

    def __init__(self, config: SyntheticBookConfig, context: ConnectorContext) -> None:
        self.name = context.instance_name
        self.config = config
        self.venue = SyntheticVenue(config)
        location = Location.venue(self.name)
        self._markets: dict[str, Market] = {}
        self._symbol_of: dict[str, str] = {}
        for m in config.markets:
            symbol = f"{m.base}{m.quote}"
            market = Market(
                id=f"{self.name}:{symbol}",
                venue=self.name,
                kind=MarketKind.BOOK,
                location=location,
                base=context.registry.at(m.base, location),
                quote=context.registry.at(m.quote, location),
                symbol=symbol,
                tick_size=m.tick_size,
                lot_size=1,
                min_size=1,
                fee_bps=m.fee_bps,
            )
            self._markets[market.id] = market
            self._symbol_of[market.id] = symbol
        self._id_of = {s: mid for mid, s in self._symbol_of.items()}
        self._decimals = {a.symbol: a.decimals for a in context.registry.assets}
        self._books: dict[str, OrderBook] = {}
        self._subscribers: set[asyncio.Queue[LiquidityUpdate | None]] = set()
        self._last_recv_ns: int | None = None
        self._last_sequence: int | None = None
        self._running = False

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self.venue.subscribe(self._on_book)
        self.venue.start()

    async def stop(self) -> None:
        self._running = False
        await self.venue.stop()
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    # -- market data -----------------------------------------------------------

    def markets(self) -> Sequence[Market]:
        return tuple(self._markets.values())

    def liquidity(self, market_id: str) -> OrderBook | None:
        return self._books.get(market_id)

    async def updates(self) -> AsyncIterator[LiquidityUpdate]:
        queue: asyncio.Queue[LiquidityUpdate | None] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            while True:
                update = await queue.get()
                if update is None:
                    return
                yield update
        finally:
            self._subscribers.discard(queue)

    async def fetch_liquidity(self, market_id: str) -> OrderBook:
        market = self._market(market_id)
        await asyncio.sleep(0)  # a real connector would make a REST request here
        return self._book(market, self.venue.book(self._symbol_of[market_id]), validate=True)

    def health(self) -> Health:
        now = time.time_ns()
        age = None if self._last_recv_ns is None else now - self._last_recv_ns
        if not self._running:
            status, reason = HealthStatus.STOPPED, "not started"
        elif age is None:
            status, reason = HealthStatus.STARTING, "no book yet"
        elif age > self.config.stale_after_s * 1e9:
            status, reason = HealthStatus.STALE, f"no update for {age / 1e9:.2f} s"
        else:
            status, reason = HealthStatus.HEALTHY, None
        return Health(
            connector=self.name,
            status=status,
            reason=reason,
            last_update_ns=self._last_recv_ns,
            last_sequence=self._last_sequence,
            age_ns=age,
        )

    def capabilities(self) -> Capabilities:
        return Capabilities(
            supported=frozenset(
                {
                    Capability.BOOKS,
                    Capability.STREAM,
                    Capability.EXECUTE,
                    Capability.BALANCES,
                    Capability.STALENESS,
                }
            ),
            unsupported={Capability.AMM: "a synthetic order-book venue has no pools"},
        )

    # -- execution -------------------------------------------------------------

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        market = self._market(request.market_id)
        if self.health().status is not HealthStatus.HEALTHY:
            raise StaleSourceError(f"{self.name} is not healthy", market_id=market.id)
        symbol = self._symbol_of[market.id]

        def fill(venue_book: VenueBook) -> VenueFill:
            book = self._book(market, venue_book, validate=False)
            out = book.amount_out(request.amount_in, request.side)
            if out == 0 or out < request.min_amount_out:
                raise VenueRejectedError(
                    f"IOC order would receive {out}, below the minimum {request.min_amount_out}",
                    venue_code=-2010,
                    market_id=market.id,
                )
            spent = book.amount_in(out, request.side)
            return VenueFill(spent=min(spent or request.amount_in, request.amount_in), received=out)

        result = self.venue.settle(symbol, request.side, request.amount_in, fill)
        base_dec = self._decimals[market.base.asset]
        quote_dec = self._decimals[market.quote.asset]
        if request.side is Side.SELL_BASE:
            base_amount, quote_amount = result.spent, result.received
        else:
            base_amount, quote_amount = result.received, result.spent
        now = time.time_ns()
        return ExecutionResult(
            market_id=market.id,
            side=request.side,
            amount_in=result.spent,
            amount_out=result.received,
            fills=(
                Fill(
                    price=price_of(quote_amount, base_amount, quote_dec, base_dec),
                    base_amount=base_amount,
                    quote_amount=quote_amount,
                ),
            ),
            order_id=request.client_id,
            ts_event=now,
            ts_recv=now,
        )

    async def balances(self) -> dict[str, int]:
        """The account's balances by canonical asset, base units."""
        return dict(self.venue.balances)

    # -- internals -------------------------------------------------------------

    def _market(self, market_id: str) -> Market:
        try:
            return self._markets[market_id]
        except KeyError:
            raise VenueRejectedError(
                f"{self.name} has no market {market_id!r}", market_id=market_id
            ) from None

    def _book(self, market: Market, book: VenueBook, *, validate: bool) -> OrderBook:
        now = time.time_ns()
        fields = {
            "market_id": market.id,
            "bids": book.bids,
            "asks": book.asks,
            "base_decimals": self._decimals[market.base.asset],
            "quote_decimals": self._decimals[market.quote.asset],
            "lot_size": market.lot_size,
            "fee_bps": market.fee_bps,
            "sequence": book.sequence,
            "ts_event": now,
            "ts_recv": now,
        }
        return OrderBook(**fields) if validate else OrderBook.trusted(**fields)

    def _on_book(self, venue_book: VenueBook) -> None:
        market_id = self._id_of[venue_book.symbol]
        book = self._book(self._markets[market_id], venue_book, validate=False)
        self._books[market_id] = book
        self._last_recv_ns = book.ts_recv
        self._last_sequence = book.sequence
        update = LiquidityUpdate.model_construct(market_id=market_id, liquidity=book)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # a slow reader loses the oldest update, never blocks the feed
            queue.put_nowait(update)
