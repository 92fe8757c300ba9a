"""Refusals of the devnet exchange, with Binance Spot's error codes and HTTP statuses.

Each class maps one family of Binance errors; ``venue_code`` picks the exact code where a
family has several (``-1100``/``-1102`` and so on). The server turns any of them into
``{"code": venue_code, "msg": message}`` with the class's ``status``.

    ExchangeError (400)                   aggregator.errors
    ├── BadParameterError (400)           -1100 illegal characters, -1102 mandatory parameter,
    │                                     -1106 not required, -1111 precision, -1115/-1116/-1117
    │                                     invalid timeInForce/type/side, -1131 recvWindow
    ├── InvalidSymbolError (400)          -1121
    ├── FilterFailureError (400)          -1013 PRICE_FILTER, LOT_SIZE, NOTIONAL ...
    ├── OrderRejectedError (400)          -2010 insufficient balance, duplicate, would take
    ├── CancelRejectedError (400)         -2011 unknown order on cancel
    ├── NoSuchOrderError (400)            -2013 order does not exist
    ├── TimestampError (400)              -1021 outside recvWindow
    ├── ApiKeyError (401)                 -2014 malformed key, -2015 unknown key
    ├── SignatureError (401)              -1022
    └── TooManyRequestsError (429)        -1003 request weight, -1015 order count; retry_after
"""

from __future__ import annotations

from typing import Any

from aggregator.errors import ExchangeError

__all__ = [
    "ApiKeyError",
    "BadParameterError",
    "CancelRejectedError",
    "ExchangeError",
    "FilterFailureError",
    "InvalidSymbolError",
    "NoSuchOrderError",
    "OrderRejectedError",
    "SignatureError",
    "TimestampError",
    "TooManyRequestsError",
]


class BadParameterError(ExchangeError):
    code = "exchange_bad_parameter"
    default_venue_code = -1102


class InvalidSymbolError(ExchangeError):
    code = "exchange_invalid_symbol"
    default_venue_code = -1121

    def __init__(self, message: str = "Invalid symbol.", **details: Any) -> None:
        super().__init__(message, **details)


class FilterFailureError(ExchangeError):
    code = "exchange_filter_failure"
    default_venue_code = -1013

    def __init__(self, filter_type: str, **details: Any) -> None:
        super().__init__(f"Filter failure: {filter_type}", filter_type=filter_type, **details)
        self.filter_type = filter_type


class OrderRejectedError(ExchangeError):
    code = "exchange_order_rejected"
    default_venue_code = -2010


class CancelRejectedError(ExchangeError):
    code = "exchange_cancel_rejected"
    default_venue_code = -2011

    def __init__(self, message: str = "Unknown order sent.", **details: Any) -> None:
        super().__init__(message, **details)


class NoSuchOrderError(ExchangeError):
    code = "exchange_no_such_order"
    default_venue_code = -2013

    def __init__(self, message: str = "Order does not exist.", **details: Any) -> None:
        super().__init__(message, **details)


class TimestampError(ExchangeError):
    code = "exchange_timestamp"
    default_venue_code = -1021


class ApiKeyError(ExchangeError):
    code = "exchange_api_key"
    status = 401
    default_venue_code = -2015


class SignatureError(ExchangeError):
    code = "exchange_signature"
    status = 401
    default_venue_code = -1022

    def __init__(
        self, message: str = "Signature for this request is not valid.", **details: Any
    ) -> None:
        super().__init__(message, **details)


class TooManyRequestsError(ExchangeError):
    code = "exchange_rate_limited"
    status = 429
    retryable = True
    default_venue_code = -1003

    def __init__(
        self, message: str, retry_after: int, venue_code: int | None = None, **details: Any
    ) -> None:
        super().__init__(message, venue_code=venue_code, retry_after=retry_after, **details)
        self.retry_after = retry_after
