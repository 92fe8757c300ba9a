"""Translating the venue's refusals and transport failures into the service's typed errors.

The venue answers errors as ``{"code": <negative int>, "msg": "..."}`` (Binance Spot's
codes) with an HTTP status. Decisions are taken on the code and status, never on the
message:

    code / status                                   raised
    -1003 -1015, HTTP 429 or 418                    VenueRateLimitError(retry_after)
    -1022 -2014 -2015, HTTP 401/403                 VenueAuthError
    -1021 (timestamp outside recvWindow)            VenueAuthError
    -1013 -1100..-1199 -2010 -2011 -2013, other 4xx VenueRejectedError
    -1000 -1001 -1006 -1007 -1008, HTTP 5xx         VenueUnavailableError
    httpx transport failure or timeout              VenueUnavailableError

``Retry-After`` (seconds) gives the wait of a rate-limit error; one second when absent.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import (
    VenueAuthError,
    VenueError,
    VenueRateLimitError,
    VenueRejectedError,
    VenueUnavailableError,
)
from connectors.offchain_venue.schemas import ErrorBody

__all__ = [
    "AUTH_CODES",
    "RATE_LIMIT_CODES",
    "UNAVAILABLE_CODES",
    "error_from_response",
    "error_from_transport",
    "retry_after_seconds",
]

RATE_LIMIT_CODES = frozenset({-1003, -1015})
AUTH_CODES = frozenset({-1021, -1022, -2014, -2015})
UNAVAILABLE_CODES = frozenset({-1000, -1001, -1006, -1007, -1008})

DEFAULT_RETRY_AFTER_S = 1.0


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    """The ``Retry-After`` header in seconds (the venue sends whole seconds)."""
    raw = headers.get("retry-after") or headers.get("Retry-After")
    if raw is None:
        return DEFAULT_RETRY_AFTER_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    return value if value >= 0 else DEFAULT_RETRY_AFTER_S


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, endpoint: str
) -> VenueError:
    """The typed error for a non-2xx answer of the venue."""
    code: int | None = None
    msg = ""
    try:
        parsed = ErrorBody.model_validate_json(body)
        code, msg = parsed.code, parsed.msg
    except PydanticValidationError:
        msg = body[:200].decode("utf-8", "replace")
    message = f"{endpoint}: HTTP {status}" + (f" code {code}" if code is not None else "")
    message += f": {msg}" if msg else ""
    details = {"http_status": status, "endpoint": endpoint}
    if code in RATE_LIMIT_CODES or status in (418, 429):
        return VenueRateLimitError(
            message, retry_after=retry_after_seconds(headers), venue_code=code, **details
        )
    if code in AUTH_CODES or status in (401, 403):
        return VenueAuthError(message, venue_code=code, **details)
    if code in UNAVAILABLE_CODES or status >= 500:
        return VenueUnavailableError(message, venue_code=code, **details)
    if 400 <= status < 500:
        return VenueRejectedError(message, venue_code=code, **details)
    return VenueError(message, venue_code=code, **details)


def error_from_transport(exc: httpx.HTTPError, *, endpoint: str) -> VenueUnavailableError:
    """A transport failure (connect, read, timeout) as a retryable unavailability."""
    kind = type(exc).__name__
    return VenueUnavailableError(f"{endpoint}: {kind}: {exc}", endpoint=endpoint, transport=kind)
