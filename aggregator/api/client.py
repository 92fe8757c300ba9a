"""A small HTTP client of the API, for the CLI, the demo and the trader.

:class:`ApiClient` speaks the wire format (amounts as strings) and turns error
bodies back into the typed errors they name; :meth:`ApiClient.create_swap`
returns a :class:`~aggregator.settlement.service.SwapTicket`, so the trader
client (:class:`~aggregator.client.trader.TraderClient`) can run a swap
through the HTTP API exactly as it does in process.
"""

from __future__ import annotations

from typing import Any

import aiohttp

import aggregator.errors as errors
from aggregator.errors import AggregatorError, RateLimitedError
from aggregator.settlement.service import LockInstructions, SwapTicket
from aggregator.settlement.swap import Swap, SwapPhase
from aggregator.settlement.terms import HtlcTerms

__all__ = ["ApiClient", "swap_from_view", "terms_from_view"]

_BY_CODE: dict[str, type[AggregatorError]] = {}
for _name in errors.__all__:
    _cls = getattr(errors, _name)
    if isinstance(_cls, type) and issubclass(_cls, AggregatorError):
        _BY_CODE.setdefault(_cls.code, _cls)


def _error(status: int, body: Any) -> AggregatorError:
    if not isinstance(body, dict) or "code" not in body:
        exc = AggregatorError(f"HTTP {status}: {str(body)[:200]}")
        return exc
    code, message = str(body["code"]), str(body.get("message", ""))
    raw = body.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    cls = _BY_CODE.get(code, AggregatorError)
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after=float(details.get("retry_after", 1)))
    try:
        return cls(message, **{k: v for k, v in details.items() if k != "retry_after"})
    except TypeError:
        return AggregatorError(f"[{code}] {message}")


def terms_from_view(view: dict[str, Any]) -> HtlcTerms:
    data = {k: v for k, v in view.items() if k != "id"}
    data["amount"] = int(data["amount"])
    return HtlcTerms.model_validate(data)


def swap_from_view(view: dict[str, Any]) -> Swap:
    destination = view.get("destination")
    return Swap(
        id=view["id"],
        version=view["version"],
        phase=SwapPhase(view["state"]),
        quote_id=view.get("quote_id"),
        source=terms_from_view(view["source"]),
        destination=None if destination is None else terms_from_view(destination),
        lock_deadline=view["lock_deadline"],
        source_lock_block=view.get("source_lock_block"),
        created_ns=view["created_ns"],
        updated_ns=view["updated_ns"],
    )


class ApiClient:
    """The API at ``base_url``; ``api_key`` for the swap endpoints."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._own = session is None
        self._session = session

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """The decoded JSON answer; the typed error an error body names otherwise."""
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        query = {k: str(v) for k, v in params.items() if v is not None}
        async with self._client().request(
            method, self.base_url + path, json=body, headers=headers, params=query
        ) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = await response.text()
            if response.status >= 400:
                raise _error(response.status, data)
            return data

    async def text(self, path: str) -> tuple[int, str]:
        async with self._client().get(self.base_url + path) as response:
            return response.status, await response.text()

    async def quote(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", "/v1/quotes", body)
        return result

    async def get_quote(self, quote_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/v1/quotes/{quote_id}")
        return result

    async def get_swap(self, swap_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/v1/swaps/{swap_id}")
        return result

    async def list_swaps(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        result = await self.request("GET", "/v1/swaps", state=state, limit=limit)
        return list(result["swaps"])

    async def create_swap(
        self,
        quote_id: str,
        trader_source_address: str,
        trader_destination_address: str,
        hashlock: str,
    ) -> SwapTicket:
        """POST /v1/swaps, as the trader client's ``SwapApi``."""
        view = await self.request(
            "POST",
            "/v1/swaps",
            {
                "quote_id": quote_id,
                "source_address": trader_source_address,
                "destination_address": trader_destination_address,
                "hashlock": hashlock,
            },
        )
        lock = view["lock"]
        return SwapTicket(
            swap=swap_from_view(view["swap"]),
            lock=LockInstructions(
                chain=lock["chain"],
                chain_id=lock["chain_id"],
                htlc=lock["htlc"],
                terms=terms_from_view(lock["terms"]),
                calldata=lock["calldata"],
                value=int(lock["value"]),
                approve_token=lock.get("approve_token"),
                approve_calldata=lock.get("approve_calldata"),
            ),
            destination=terms_from_view(view["destination"]),
        )
