"""Typed errors for the whole service, under one root.

Every error carries a stable machine-readable ``code`` (used by the API and for
retry decisions) and, for API-facing errors, the HTTP ``status`` it maps to.
Dependency exceptions (web3, httpx, aiohttp, redis) are translated at the
boundary that calls them into the most specific type below; code above that
boundary never inspects ``str(e)``.

    AggregatorError
    ├── ConfigError                      invalid or missing configuration
    │   └── PluginError                  a connector plugin cannot be loaded
    │       └── PluginVersionError       built for an incompatible protocol version
    ├── ValidationError (400)            a request or input is malformed
    │   ├── UnknownAssetError (400)
    │   ├── InvalidAmountError (400)
    │   ├── InvalidAddressError (400)
    │   ├── MalformedJsonError (400)     a request body that is not JSON
    │   ├── RequestSchemaError (422)     a body that breaks the request schema
    │   └── PayloadTooLargeError (413)
    ├── NotFoundError (404)
    │   ├── QuoteNotFoundError
    │   ├── SwapNotFoundError
    │   └── MarketNotFoundError
    ├── ConflictError (409)
    │   ├── QuoteExpiredError
    │   ├── QuoteAlreadyUsedError
    │   ├── StateConflictError           compare-and-set lost
    │   └── QuoteNotFirmError            only a firm quote (inventory reserved) can be swapped
    ├── AuthError (401)
    ├── MethodNotAllowedError (405)
    ├── RateLimitedError (429)           carries retry_after seconds
    ├── NoLiquidityError (503/422)       no healthy source, or not enough depth
    │   ├── InsufficientLiquidityError (422)
    │   └── NotRoutableError (422)       sources are healthy but no route serves this order
    ├── ConnectorError                   a venue or chain failed
    │   ├── StaleSourceError             data too old or missing
    │   ├── QuarantinedError             book inconsistent, resync pending
    │   ├── VenueError                   the venue answered with an error code
    │   │   ├── VenueRateLimitError      (retryable, with retry_after)
    │   │   ├── VenueAuthError
    │   │   ├── VenueRejectedError       order or symbol refused
    │   │   └── VenueUnavailableError    network failure / 5xx (retryable)
    │   └── ChainError                   JSON-RPC failure
    │       ├── RpcUnavailableError      transport failure (retryable)
    │       ├── TransactionRevertedError
    │       ├── SlippageExceededError    minimum output or limit not met
    │       └── ReceiptTimeoutError      no receipt within the wait (retryable)
    ├── SettlementError
    │   ├── TermsMismatchError           an on-chain lock differs from the agreed terms
    │   ├── TimelockUnsafeError          too little time left to lock safely
    │   └── LeaseLostError               another coordinator owns the swap
    ├── JournalError
    │   ├── AnalyticsUnavailableError (503)  no QuestDB configured or reachable
    │   ├── JournalQueryError (502)      QuestDB refused a query (SQL error)
    │   └── JournalWriteError            an ILP flush to QuestDB failed (retryable)
    ├── DevnetError                      the local devnet cannot start, deploy or stop
    └── ExchangeError (400)              the devnet exchange refused a request; carries its
                                         Binance-style venue_code (subclasses: exchange/errors.py)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AggregatorError",
    "AnalyticsUnavailableError",
    "AuthError",
    "ChainError",
    "ConfigError",
    "ConflictError",
    "ConnectorError",
    "DevnetError",
    "ExchangeError",
    "InsufficientLiquidityError",
    "InvalidAddressError",
    "InvalidAmountError",
    "JournalError",
    "JournalQueryError",
    "JournalWriteError",
    "LeaseLostError",
    "MalformedJsonError",
    "MarketNotFoundError",
    "MethodNotAllowedError",
    "NoLiquidityError",
    "NotFoundError",
    "NotRoutableError",
    "PayloadTooLargeError",
    "PluginError",
    "PluginVersionError",
    "QuarantinedError",
    "QuoteAlreadyUsedError",
    "QuoteExpiredError",
    "QuoteNotFirmError",
    "QuoteNotFoundError",
    "RateLimitedError",
    "ReceiptTimeoutError",
    "RequestSchemaError",
    "RpcUnavailableError",
    "SettlementError",
    "SlippageExceededError",
    "StaleSourceError",
    "StateConflictError",
    "SwapNotFoundError",
    "TermsMismatchError",
    "TimelockUnsafeError",
    "TransactionRevertedError",
    "UnknownAssetError",
    "ValidationError",
    "VenueAuthError",
    "VenueError",
    "VenueRateLimitError",
    "VenueRejectedError",
    "VenueUnavailableError",
]


class AggregatorError(Exception):
    """Root of every error the service raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(AggregatorError):
    code = "config_error"


class PluginError(ConfigError):
    code = "plugin_error"


class PluginVersionError(PluginError):
    code = "plugin_incompatible_version"


class ValidationError(AggregatorError):
    code = "invalid_request"
    status = 400


class UnknownAssetError(ValidationError):
    code = "unknown_asset"


class InvalidAmountError(ValidationError):
    code = "invalid_amount"


class InvalidAddressError(ValidationError):
    code = "invalid_address"


class NotFoundError(AggregatorError):
    code = "not_found"
    status = 404


class QuoteNotFoundError(NotFoundError):
    code = "quote_not_found"


class SwapNotFoundError(NotFoundError):
    code = "swap_not_found"


class ConflictError(AggregatorError):
    code = "conflict"
    status = 409


class QuoteExpiredError(ConflictError):
    code = "quote_expired"


class QuoteAlreadyUsedError(ConflictError):
    code = "quote_already_used"


class StateConflictError(ConflictError):
    code = "state_conflict"
    retryable = True


class AuthError(AggregatorError):
    code = "unauthorized"
    status = 401


class RateLimitedError(AggregatorError):
    code = "rate_limited"
    status = 429
    retryable = True

    def __init__(self, message: str, retry_after: float, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class NoLiquidityError(AggregatorError):
    code = "no_liquidity"
    status = 503


class InsufficientLiquidityError(NoLiquidityError):
    code = "insufficient_liquidity"
    status = 422


class ConnectorError(AggregatorError):
    code = "connector_error"
    status = 502


class StaleSourceError(ConnectorError):
    code = "stale_source"
    retryable = True


class QuarantinedError(ConnectorError):
    code = "quarantined"
    retryable = True


class VenueError(ConnectorError):
    code = "venue_error"

    def __init__(self, message: str, venue_code: int | None = None, **details: Any) -> None:
        super().__init__(message, venue_code=venue_code, **details)
        self.venue_code = venue_code


class VenueRateLimitError(VenueError):
    code = "venue_rate_limited"
    retryable = True

    def __init__(
        self, message: str, retry_after: float, venue_code: int | None = None, **details: Any
    ) -> None:
        super().__init__(message, venue_code=venue_code, retry_after=retry_after, **details)
        self.retry_after = retry_after


class VenueAuthError(VenueError):
    code = "venue_auth"


class VenueRejectedError(VenueError):
    code = "venue_rejected"


class VenueUnavailableError(VenueError):
    code = "venue_unavailable"
    retryable = True


class ChainError(ConnectorError):
    code = "chain_error"


class RpcUnavailableError(ChainError):
    code = "rpc_unavailable"
    retryable = True


class TransactionRevertedError(ChainError):
    code = "transaction_reverted"


class SlippageExceededError(ChainError):
    code = "slippage_exceeded"


class SettlementError(AggregatorError):
    code = "settlement_error"


class TermsMismatchError(SettlementError):
    code = "terms_mismatch"


class TimelockUnsafeError(SettlementError):
    code = "timelock_unsafe"


class LeaseLostError(SettlementError):
    code = "lease_lost"
    retryable = True


class JournalError(AggregatorError):
    code = "journal_error"


class AnalyticsUnavailableError(JournalError):
    code = "analytics_unavailable"
    status = 503


class JournalQueryError(JournalError):
    code = "journal_query_failed"
    status = 502


class JournalWriteError(JournalError):
    code = "journal_write_failed"
    retryable = True


class ReceiptTimeoutError(ChainError):
    code = "receipt_timeout"
    retryable = True


class DevnetError(AggregatorError):
    code = "devnet_error"


class ExchangeError(AggregatorError):
    """The devnet exchange refused a request.

    ``venue_code`` is the exchange's own numeric error code (Binance Spot's codes), sent on
    the wire as ``{"code": venue_code, "msg": message}`` with the class's HTTP ``status``.
    """

    code = "exchange_error"
    status = 400
    default_venue_code: ClassVar[int] = -1000

    def __init__(self, message: str, venue_code: int | None = None, **details: Any) -> None:
        code = self.default_venue_code if venue_code is None else venue_code
        super().__init__(message, venue_code=code, **details)
        self.venue_code = code


class MalformedJsonError(ValidationError):
    code = "malformed_json"


class RequestSchemaError(ValidationError):
    """A well-formed JSON body that breaks the request schema; ``details.fields`` says where."""

    code = "invalid_request"
    status = 422


class PayloadTooLargeError(ValidationError):
    code = "payload_too_large"
    status = 413


class MethodNotAllowedError(AggregatorError):
    code = "method_not_allowed"
    status = 405


class QuoteNotFirmError(ConflictError):
    code = "quote_not_firm"


class MarketNotFoundError(NotFoundError):
    code = "market_not_found"


class NotRoutableError(NoLiquidityError):
    code = "not_routable"
    status = 422
