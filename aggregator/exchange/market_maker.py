"""The devnet's market maker: ladders of resting orders around a moving reference price.

Per market it keeps ``levels`` limit orders on each side, level ``i`` at
``first_offset_bps + i * level_spacing_bps`` from the reference (bids rounded down, asks
up to the tick), each with its own size between ``min_size`` and ``max_size`` (whole
lots). Every 50-200 ms (configurable) the log of the reference takes a step of a
mean-reverting random walk (Ornstein-Uhlenbeck: pulled back towards the configured price
by ``mean_reversion``, noise ``volatility_bps``), a few levels draw new sizes, and the
maker cancels every order whose price or size is no longer wanted, or that traded, and
places the missing ones. A requote is one engine batch, hence one depth diff per market.

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
    price: int
    qty: int


class _Ladder:
    """The maker's state in one market."""

    def __init__(self, spec: SymbolSpec, config: MarketConfig, rng: random.Random) -> None:
        self.spec = spec
        self.config = config
        self.log_anchor = math.log(float(config.reference_price))
        self.log_ref = self.log_anchor
        lot = spec.lot_units
        try:
            self.min_lots = max(1, spec.qty_units(config.min_size) // lot)
            self.max_lots = max(self.min_lots, spec.qty_units(config.max_size) // lot)
        except FilterFailureError as exc:
            raise ConfigError(
                f"market maker sizes of {spec.symbol} are not whole lots within LOT_SIZE"
            ) from exc
        self.sizes = {(side, i): self.draw_size(rng) for side in Side for i in range(config.levels)}
        self.resting: dict[tuple[Side, int], _Resting] = {}

    def draw_size(self, rng: random.Random) -> int:
        return rng.randint(self.min_lots, self.max_lots) * self.spec.lot_units

    def reference(self) -> float:
        return math.exp(self.log_ref)

    def step(self, rng: random.Random) -> dict[tuple[Side, int], tuple[int, int]]:
        """Move the reference and return the wanted ``(price_ticks, qty)`` per level."""
        c = self.config
        self.log_ref += c.mean_reversion * (self.log_anchor - self.log_ref)
        self.log_ref += rng.gauss(0.0, c.volatility_bps / 10_000)
        ref = self.reference() / float(self.spec.tick_size)
        spec = self.spec
        wanted: dict[tuple[Side, int], tuple[int, int]] = {}
        for i in range(c.levels):
            offset = float(c.first_offset_bps + i * c.level_spacing_bps) / 10_000
            bid = max(spec.min_price_ticks, math.floor(ref * (1 - offset)))
            ask = min(spec.max_price_ticks, math.ceil(ref * (1 + offset)))
            for side, price in ((Side.BUY, bid), (Side.SELL, ask)):
                if rng.random() < c.resize_probability:
                    self.sizes[(side, i)] = self.draw_size(rng)
                wanted[(side, i)] = (price, self.sizes[(side, i)])
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
        for ladder in self._ladders:
            wanted = ladder.step(self._rng)
            symbol = ladder.spec.symbol
            open_now = {o.order_id: o for o in self.engine.open_orders(self.account, symbol)}
            with self.engine.batch():
                for key, resting in list(ladder.resting.items()):
                    view = open_now.get(resting.order_id)
                    if view is not None and view.executed_qty == 0:
                        if (resting.price, resting.qty) == wanted[key]:
                            continue
                        self.engine.cancel(self.account, symbol, ts, order_id=resting.order_id)
                    elif view is not None:
                        self.engine.cancel(self.account, symbol, ts, order_id=resting.order_id)
                    del ladder.resting[key]
                for key, (price, qty) in wanted.items():
                    if key in ladder.resting:
                        continue
                    request = OrderRequest(
                        account=self.account,
                        symbol=symbol,
                        side=key[0],
                        type=OrderType.LIMIT,
                        quantity=qty,
                        price=price,
                        time_in_force=TimeInForce.GTC,
                    )
                    try:
                        order = self.engine.place(request, ts).order
                    except ExchangeError:
                        continue  # out of funds on this side, or a filter: skip the level
                    if order.is_open:
                        ladder.resting[key] = _Resting(order.order_id, price, qty)

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
