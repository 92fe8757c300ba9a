"""The devnet's market maker: ladders of resting orders around a moving reference price.

Per market it keeps ``levels`` limit orders on each side on a fixed price grid of
``level_spacing_bps`` (of the configured price, in whole ticks): the best bid is the grid
line at or below ``reference * (1 - first_offset_bps)``, the best ask the line at or above
``reference * (1 + first_offset_bps)``, and further levels follow every grid step. Each
grid price has its own size between ``min_size`` and ``max_size`` (whole lots).

Every 50-200 ms (configurable) the log of the reference takes a step of a mean-reverting
random walk (Ornstein-Uhlenbeck: pulled back towards the configured price by
``mean_reversion``, noise ``volatility_bps``), a few prices draw new sizes, and the maker
cancels every order whose price left the ladder, whose size changed, or that traded, and
places the missing ones. Because the grid is fixed, a small move of the reference only
shifts the ends of the ladder, so requotes are cheap but the book still changes every
time. A requote is one engine batch, hence one depth diff per market.

The walk is the only place floats appear: it yields a reference price that is turned into
integer ticks before any order is made. It is seeded, so a run can be replayed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from aggregator.errors import ConfigError
from aggregator.exchange.config import MarketConfig, MarketMakerConfig
from aggregator.exchange.engine import MatchingEngine
from aggregator.exchange.errors import ExchangeError, FilterFailureError
from aggregator.exchange.orders import OrderRequest, OrderType, Side, TimeInForce
from aggregator.exchange.units import SymbolSpec

__all__ = ["MarketMaker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Resting:
    order_id: int
    qty: int


class _Ladder:
    """The maker's state in one market."""

    def __init__(self, spec: SymbolSpec, config: MarketConfig, rng: random.Random) -> None:
        self.spec = spec
        self.config = config
        self.log_anchor = math.log(float(config.reference_price))
        self.log_ref = self.log_anchor
        anchor_ticks = config.reference_price / spec.tick_size
        self.grid = max(1, int(anchor_ticks * config.level_spacing_bps / 10_000))
        lot = spec.lot_units
        try:
            self.min_lots = max(1, spec.qty_units(config.min_size) // lot)
            self.max_lots = max(self.min_lots, spec.qty_units(config.max_size) // lot)
        except FilterFailureError as exc:
            raise ConfigError(
                f"market maker sizes of {spec.symbol} are not whole lots within LOT_SIZE"
            ) from exc
        self.sizes: dict[tuple[Side, int], int] = {}
        self.resting: dict[tuple[Side, int], _Resting] = {}

    def draw_size(self, rng: random.Random) -> int:
        return rng.randint(self.min_lots, self.max_lots) * self.spec.lot_units

    def reference(self) -> float:
        return math.exp(self.log_ref)

    def step(self, rng: random.Random) -> dict[tuple[Side, int], int]:
        """Move the reference and return the wanted quantity per ``(side, price_ticks)``."""
        c, spec, grid = self.config, self.spec, self.grid
        self.log_ref += c.mean_reversion * (self.log_anchor - self.log_ref)
        self.log_ref += rng.gauss(0.0, c.volatility_bps / 10_000)
        ref = self.reference() / float(spec.tick_size)
        offset = float(c.first_offset_bps) / 10_000
        best_bid = math.floor(ref * (1 - offset) / grid) * grid
        best_ask = math.ceil(ref * (1 + offset) / grid) * grid
        wanted: dict[tuple[Side, int], int] = {}
        for i in range(c.levels):
            bid, ask = best_bid - i * grid, best_ask + i * grid
            if bid >= spec.min_price_ticks:
                wanted[(Side.BUY, bid)] = 0
            if ask <= spec.max_price_ticks:
                wanted[(Side.SELL, ask)] = 0
        sizes = {key: size for key, size in self.sizes.items() if key in wanted}
        for key in wanted:
            if key not in sizes or rng.random() < c.resize_probability:
                sizes[key] = self.draw_size(rng)
            wanted[key] = sizes[key]
        self.sizes = sizes
        return wanted


class MarketMaker:
    """Keeps every configured market quoted; :meth:`step` is one synchronous requote."""

    def __init__(
        self,
        engine: MatchingEngine,
        config: MarketMakerConfig,
        clock_ns: Callable[[], int],
    ) -> None:
        self.engine = engine
        self.config = config
        self.account = config.account
        self._clock_ns = clock_ns
        self._rng = random.Random(config.seed)
        self._ladders = [_Ladder(engine.spec(m.symbol), m, self._rng) for m in config.markets]
        self._task: asyncio.Task[None] | None = None

    def reference_price(self, symbol: str) -> float:
        """Where the walk of ``symbol`` stands (for display and tests)."""
        for ladder in self._ladders:
            if ladder.spec.symbol == symbol:
                return ladder.reference()
        raise KeyError(symbol)

    def step(self) -> None:
        """Requote every market once: cancel what is stale, place what is missing."""
        ts = self._clock_ns()
        engine, account = self.engine, self.account
        for ladder in self._ladders:
            wanted = ladder.step(self._rng)
            symbol = ladder.spec.symbol
            with engine.batch():
                for key, resting in list(ladder.resting.items()):
                    executed = engine.open_executed_qty(account, resting.order_id)
                    if executed == 0 and wanted.get(key) == resting.qty:
                        continue
                    if executed is not None:
                        engine.cancel(account, symbol, ts, order_id=resting.order_id)
                    del ladder.resting[key]
                for key, qty in wanted.items():
                    if key in ladder.resting:
                        continue
                    request = OrderRequest(
                        account=account,
                        symbol=symbol,
                        side=key[0],
                        type=OrderType.LIMIT,
                        quantity=qty,
                        price=key[1],
                        time_in_force=TimeInForce.GTC,
                    )
                    try:
                        order = engine.place(request, ts).order
                    except ExchangeError:
                        continue  # out of funds on this side, or a filter: skip the level
                    if order.is_open:
                        ladder.resting[key] = _Resting(order.order_id, qty)

    async def run(self) -> None:
        """Requote forever at random intervals between the configured bounds."""
        low, high = (
            self.config.min_interval_ms,
            max(self.config.min_interval_ms, self.config.max_interval_ms),
        )
        while True:
            self.step()
            await asyncio.sleep(self._rng.uniform(low, high) / 1000)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="market-maker")
            self._task.add_done_callback(self._report)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    @staticmethod
    def _report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("market maker stopped", exc_info=task.exception())
