"""Trade legs that restore the resolver's inventory after it delivered a swap.

The coordinator hands a swap's quoted route to a :class:`LegExecutor`, which
runs every trade leg on its venue through the connector's ``execute`` (paths
concurrently, the legs of one path in order, each leg spending what the
previous one produced). Each result, or the typed error of a failed leg, is a
:class:`LegRecord` with the executed output against the quoted one. Nothing
here can touch the trader's settlement: the swap's locks and claims do not
wait for, or depend on, any leg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from aggregator.errors import AggregatorError
from aggregator.models.quote import QuoteLeg, QuotePath
from aggregator.models.units import BPS, now_ns
from aggregator.plugins.protocol import Connector, ExecutionRequest

__all__ = ["LegExecutor", "LegRecord", "slippage_bps"]


def slippage_bps(quoted_out: int, executed_out: int) -> int:
    """(quoted - executed) / quoted in basis points, toward zero; positive is worse."""
    if quoted_out == 0:
        return 0
    diff = quoted_out - executed_out
    sign = 1 if diff >= 0 else -1
    return sign * (abs(diff) * BPS // quoted_out)


class LegRecord(BaseModel):
    """One executed (or failed) trade leg of a swap."""

    model_config = ConfigDict(frozen=True)

    path: int = Field(ge=0)
    leg: int = Field(ge=0)
    venue: str
    market_id: str
    location: str
    quoted_in: int
    quoted_out: int
    executed_in: int = 0
    executed_out: int = 0
    slippage_bps: int = 0
    fills: int = Field(default=0, description="Number of fills.")
    tx_hash: str | None = None
    order_id: str | None = None
    error_code: str | None = Field(default=None, description="Typed error of a failed leg.")
    ts_event: int
    ts_recv: int


class LegExecutor:
    """Runs trade legs through connectors, by venue name."""

    def __init__(self, connectors: Mapping[str, Connector], tolerance_bps: int = 100) -> None:
        self.connectors = dict(connectors)
        self.tolerance_bps = tolerance_bps

    async def run(self, swap_id: str, paths: Sequence[QuotePath]) -> list[LegRecord]:
        results = await asyncio.gather(
            *(self._path(swap_id, i, p) for i, p in enumerate(paths) if _trades(p))
        )
        return [record for path in results for record in path]

    async def _path(self, swap_id: str, index: int, path: QuotePath) -> list[LegRecord]:
        records: list[LegRecord] = []
        carry: int | None = None
        for leg_index, leg in enumerate(path.legs):
            if leg.kind != "trade":
                continue
            record = await self._leg(swap_id, index, leg_index, leg, carry)
            records.append(record)
            if record.error_code is not None:
                break  # what this leg should have produced is not there to spend
            carry = record.executed_out
        return records

    async def _leg(
        self, swap_id: str, path: int, index: int, leg: QuoteLeg, carry: int | None
    ) -> LegRecord:
        amount_in = leg.amount_in if carry is None else min(carry, leg.amount_in)
        quoted_out = leg.amount_out * amount_in // leg.amount_in if leg.amount_in else 0
        base = {
            "path": path,
            "leg": index,
            "venue": leg.venue,
            "market_id": leg.market_id or "",
            "location": str(leg.location),
            "quoted_in": amount_in,
            "quoted_out": quoted_out,
        }
        connector = self.connectors.get(leg.venue)
        if connector is None or leg.market_id is None or leg.side is None or amount_in <= 0:
            stamp = now_ns()
            return LegRecord(**base, error_code="no_connector", ts_event=stamp, ts_recv=stamp)
        request = ExecutionRequest(
            market_id=leg.market_id,
            side=leg.side,
            amount_in=amount_in,
            min_amount_out=quoted_out * (BPS - self.tolerance_bps) // BPS,
            client_id=f"{swap_id[2:18]}-{path}-{index}",
        )
        try:
            result = await connector.execute(request)
        except asyncio.CancelledError:
            raise
        except AggregatorError as exc:
            stamp = now_ns()
            return LegRecord(**base, error_code=exc.code, ts_event=stamp, ts_recv=stamp)
        except Exception:  # a plugin's own bug must not stop the others
            stamp = now_ns()
            return LegRecord(**base, error_code="internal_error", ts_event=stamp, ts_recv=stamp)
        return LegRecord(
            **base,
            executed_in=result.amount_in,
            executed_out=result.amount_out,
            slippage_bps=slippage_bps(quoted_out, result.amount_out),
            fills=len(result.fills),
            tx_hash=result.tx_hash,
            order_id=result.order_id,
            ts_event=result.ts_event,
            ts_recv=result.ts_recv,
        )


def _trades(path: QuotePath) -> bool:
    return any(leg.kind == "trade" for leg in path.legs)
