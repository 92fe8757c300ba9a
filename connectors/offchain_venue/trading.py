"""Executing legs and reading balances on the venue account (signed REST requests)."""

from __future__ import annotations

from collections.abc import Mapping

from aggregator.errors import VenueAuthError, VenueError, VenueRejectedError
from aggregator.models import OrderBook, now_ns
from aggregator.plugins.protocol import ExecutionRequest, ExecutionResult
from connectors.offchain_venue.convert import Balance, MarketSpec, balances_from_account
from connectors.offchain_venue.execution import plan_order, result_from_order
from connectors.offchain_venue.rest import VenueRestClient

__all__ = ["VenueNotFilledError", "VenueTrader"]


class VenueNotFilledError(VenueRejectedError):
    """An IOC order with a positive minimum output filled nothing at its limit."""

    code = "venue_not_filled"


class VenueTrader:
    """The account side of the connector: LIMIT IOC legs and balances."""

    def __init__(
        self, name: str, rest: VenueRestClient, decimals: Mapping[str, int], *, can_trade: bool
    ) -> None:
        self._name = name
        self._rest = rest
        self._decimals = dict(decimals)
        self._can_trade = can_trade

    def _require_keys(self) -> None:
        if not self._can_trade:
            raise VenueAuthError(f"{self._name}: no API key and secret configured")

    async def execute(
        self, request: ExecutionRequest, spec: MarketSpec, book: OrderBook | None
    ) -> ExecutionResult:
        """A LIMIT IOC order for the leg; VenueNotFilledError if a required fill got nothing.

        ``book`` (the current book, if any) prices a buy that gives neither a limit nor a
        minimum output.
        """
        self._require_keys()
        plan = plan_order(request, spec, book)
        response = await self._rest.new_order(plan.params(spec))
        result = result_from_order(request, spec, response, self._decimals, now_ns())
        if result.amount_out == 0 and request.min_amount_out > 0:
            raise VenueNotFilledError(
                f"{request.market_id}: nothing filled at limit {plan.price} "
                f"(min_amount_out {request.min_amount_out})",
                order_id=response.orderId,
                status=response.status,
                limit_price=str(plan.price),
            )
        return result

    async def balances(self) -> dict[str, Balance]:
        """The account's free and locked balances, base units, by asset."""
        self._require_keys()
        account = await self._rest.account()
        try:
            return balances_from_account(account, self._decimals)
        except ValueError as exc:
            raise VenueError(f"{self._name}: malformed account balances: {exc}") from exc
