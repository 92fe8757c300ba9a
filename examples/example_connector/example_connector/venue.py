"""The synthetic venue itself: what a real connector would reach over the network.

It keeps the truth (books by sequence, account balances) and pushes each new
book to a listener. The connector composes it; tests pause and resume it to
exercise staleness.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from aggregator.errors import VenueRejectedError
from aggregator.models import BookLevel, Side
from example_connector.config import SyntheticBookConfig, SyntheticMarketConfig

__all__ = ["Fill", "SyntheticVenue", "VenueBook"]


@dataclass(frozen=True)
class VenueBook:
    """One published book of one symbol."""

    symbol: str
    sequence: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass(frozen=True)
class Fill:
    spent: int
    received: int


class SyntheticVenue:
    """Random-walk books and one account, all in memory."""

    def __init__(self, config: SyntheticBookConfig) -> None:
        self._config = config
        self._random = random.Random(config.seed)
        self._markets = {f"{m.base}{m.quote}": m for m in config.markets}
        self._mids = {symbol: m.mid for symbol, m in self._markets.items()}
        self._sequence = 0
        self._books: dict[str, VenueBook] = {}
        self.balances: dict[str, int] = dict(config.balances)
        self.paused = False
        self._listener: Callable[[VenueBook], None] | None = None
        self._task: asyncio.Task[None] | None = None
        for symbol in self._markets:
            self._books[symbol] = self._generate(symbol)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._markets)

    def book(self, symbol: str) -> VenueBook:
        return self._books[symbol]

    def subscribe(self, listener: Callable[[VenueBook], None]) -> None:
        self._listener = listener
        for book in self._books.values():
            listener(book)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._config.update_interval_s)
            if self.paused:
                continue
            for symbol in self._markets:
                self._books[symbol] = self._generate(symbol)
                if self._listener is not None:
                    self._listener(self._books[symbol])

    def _generate(self, symbol: str) -> VenueBook:
        market: SyntheticMarketConfig = self._markets[symbol]
        tick = market.tick_size
        mid = self._mids[symbol] + tick * self._random.choice((-1, 0, 1))
        mid = max(mid, tick * (market.spread_ticks + market.levels + 1))
        self._mids[symbol] = mid
        best_bid = (mid / tick).to_integral_value() * tick - tick * (market.spread_ticks // 2)
        best_ask = best_bid + tick * market.spread_ticks

        def size() -> int:
            return market.level_size * self._random.randint(50, 150) // 100 + 1

        bids = tuple(BookLevel(best_bid - tick * k, size()) for k in range(market.levels))
        asks = tuple(BookLevel(best_ask + tick * k, size()) for k in range(market.levels))
        self._sequence += 1
        return VenueBook(symbol, self._sequence, bids, asks)

    def settle(
        self, symbol: str, side: Side, amount_in: int, fill: Callable[[VenueBook], Fill]
    ) -> Fill:
        """Fill an immediate-or-cancel order against the current book and book the balances."""
        market = self._markets[symbol]
        asset_in = market.base if side is Side.SELL_BASE else market.quote
        asset_out = market.quote if side is Side.SELL_BASE else market.base
        if self.balances.get(asset_in, 0) < amount_in:
            raise VenueRejectedError(
                f"insufficient {asset_in}: {self.balances.get(asset_in, 0)} < {amount_in}",
                venue_code=-2010,
            )
        result = fill(self._books[symbol])
        self.balances[asset_in] = self.balances.get(asset_in, 0) - result.spent
        self.balances[asset_out] = self.balances.get(asset_out, 0) + result.received
        return result


def price_of(
    quote_amount: int, base_amount: int, quote_decimals: int, base_decimals: int
) -> Decimal:
    """Average price, quote per base in whole units."""
    if base_amount == 0:
        return Decimal(0)
    return (Decimal(quote_amount) / Decimal(base_amount)).scaleb(base_decimals - quote_decimals)
