"""The venue's REST API over ``httpx``: public market data and signed account requests.

Signed requests carry ``timestamp`` (the venue's clock, estimated from ``/api/v3/time``)
and ``recvWindow``, then ``signature``: the hex HMAC-SHA256 of the exact query string,
keyed with the API secret; the key goes in the ``X-MBX-APIKEY`` header. Every request
first takes its weight from the :class:`~connectors.offchain_venue.ratelimit.RateLimiter`.
Failures come out as the typed errors of :mod:`connectors.offchain_venue.errors`; a
``-1021`` (timestamp outside recvWindow) re-reads the venue's clock and retries once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import VenueAuthError, VenueError, VenueRateLimitError
from connectors.offchain_venue.config import OffchainVenueConfig
from connectors.offchain_venue.errors import error_from_response, error_from_transport
from connectors.offchain_venue.ratelimit import RateLimiter, request_weight
from connectors.offchain_venue.schemas import (
    AccountInfo,
    DepthSnapshot,
    ExchangeInfo,
    OrderResponse,
    ServerTime,
)

__all__ = ["Params", "VenueRestClient", "sign"]

Params = Sequence[tuple[str, str]]
M = TypeVar("M", bound=BaseModel)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret``, as the venue checks it."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class VenueRestClient:
    """Typed calls to the venue's REST endpoints."""

    def __init__(
        self,
        config: OffchainVenueConfig,
        *,
        client: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._config = config
        self._client = client or httpx.AsyncClient(
            base_url=config.rest_url, timeout=config.request_timeout_s
        )
        self._owns_client = client is None
        self.limiter = limiter or RateLimiter(safety=config.rate_limit_safety)
        self.time_offset_ms = 0
        """Venue clock minus local clock, milliseconds."""

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- public ----------------------------------------------------------------------

    async def exchange_info(self) -> ExchangeInfo:
        """Symbols and filters; adopts the published rate limits."""
        info = await self._public("/api/v3/exchangeInfo", (), ExchangeInfo)
        self.limiter.configure(info.rateLimits)
        return info

    async def sync_time(self) -> int:
        """Estimate the venue's clock offset from ``/api/v3/time``; returns it (ms)."""
        sent = _now_ms()
        server = await self._public("/api/v3/time", (), ServerTime)
        received = _now_ms()
        self.time_offset_ms = server.serverTime - (sent + received) // 2
        return self.time_offset_ms

    async def depth(self, symbol: str, limit: int) -> DepthSnapshot:
        params = (("symbol", symbol), ("limit", str(limit)))
        return await self._public("/api/v3/depth", params, DepthSnapshot)

    # -- signed ----------------------------------------------------------------------

    async def new_order(self, params: Params) -> OrderResponse:
        """Place an order (``newOrderRespType`` should be FULL); never waits on the budget."""
        return await self._signed("POST", "/api/v3/order", params, OrderResponse, orders=1)

    async def account(self) -> AccountInfo:
        return await self._signed("GET", "/api/v3/account", (), AccountInfo)

    # -- plumbing --------------------------------------------------------------------

    async def _public(self, path: str, params: Params, model: type[M]) -> M:
        await self.limiter.acquire(request_weight("GET", path, dict(params)), wait=True)
        url = f"{path}?{urlencode(params)}" if params else path
        response = await self._send("GET", url, {}, path)
        return self._parse(response, model, path)

    async def _signed(
        self, method: str, path: str, params: Params, model: type[M], *, orders: int = 0
    ) -> M:
        key, secret = self._config.api_key, self._config.api_secret
        if key is None or secret is None:
            raise VenueAuthError(f"{path}: no API key and secret configured")
        weight = request_weight(method, path, dict(params))
        for attempt in (1, 2):
            await self.limiter.acquire(weight, orders=orders, wait=orders == 0)
            signed = [
                *params,
                ("recvWindow", str(self._config.recv_window_ms)),
                ("timestamp", str(_now_ms() + self.time_offset_ms)),
            ]
            query = urlencode(signed)
            url = f"{path}?{query}&signature={sign(secret.get_secret_value(), query)}"
            headers = {"X-MBX-APIKEY": key.get_secret_value()}
            try:
                response = await self._send(method, url, headers, path)
            except VenueAuthError as exc:
                if exc.venue_code == -1021 and attempt == 1:
                    await self.sync_time()
                    continue
                raise
            return self._parse(response, model, path)
        raise AssertionError("unreachable")

    async def _send(
        self, method: str, url: str, headers: dict[str, str], endpoint: str
    ) -> httpx.Response:
        try:
            response = await self._client.request(method, url, headers=headers)
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, endpoint=endpoint) from exc
        self.limiter.observe(response.headers)
        if response.is_success:
            return response
        error = error_from_response(
            response.status_code, response.content, response.headers, endpoint=endpoint
        )
        if isinstance(error, VenueRateLimitError):
            self.limiter.ban(error.retry_after)
        raise error

    @staticmethod
    def _parse(response: httpx.Response, model: type[M], endpoint: str) -> M:
        try:
            return model.model_validate_json(response.content)
        except PydanticValidationError as exc:
            raise VenueError(
                f"{endpoint}: malformed response: {exc.error_count()} error(s)",
                endpoint=endpoint,
            ) from exc
