"""Signed requests, as Binance Spot checks them.

A signed request carries the account's API key in the ``X-MBX-APIKEY`` header and a
``signature`` parameter: the hex HMAC-SHA256, keyed with the account's secret, of the
query string followed directly by the request body (both as sent, without the
``signature`` parameter itself). ``timestamp`` (ms) must lie within ``recvWindow`` ms
(default 5000, at most the configured maximum) before the server's time, and no more
than one second after it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aggregator.exchange.errors import (
    ApiKeyError,
    BadParameterError,
    SignatureError,
    TimestampError,
)

__all__ = ["Authenticator", "Credential", "sign", "strip_signature"]

DEFAULT_RECV_WINDOW_MS = 5000
MAX_AHEAD_MS = 1000


@dataclass(frozen=True, slots=True)
class Credential:
    account: str
    api_key: str
    secret: bytes


def sign(secret: str | bytes, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` (what a client puts in ``signature``)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> str:
    """A raw ``a=1&b=2`` string without its ``signature`` parameter, order kept."""
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


class Authenticator:
    """Maps API keys to accounts and verifies signatures and timestamps."""

    def __init__(self, credentials: Iterable[Credential], max_recv_window_ms: int) -> None:
        self._by_key = {c.api_key: c for c in credentials}
        self.max_recv_window_ms = max_recv_window_ms

    def account_for(self, api_key: str | None) -> Credential:
        if not api_key or not api_key.isprintable() or len(api_key) > 256:
            raise ApiKeyError("API-key format invalid.", venue_code=-2014)
        credential = self._by_key.get(api_key)
        if credential is None:
            raise ApiKeyError("Invalid API-key, IP, or permissions for action.", venue_code=-2015)
        return credential

    def verify(
        self,
        api_key: str | None,
        query_string: str,
        body: str,
        params: Mapping[str, str],
        now_ms: int,
    ) -> str:
        """The account name of a correctly signed, timely request; raises otherwise."""
        credential = self.account_for(api_key)
        signature = params.get("signature")
        if not signature:
            raise BadParameterError(
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = strip_signature(query_string) + strip_signature(body)
        expected = sign(credential.secret, payload)
        if not hmac.compare_digest(expected, signature.lower()):
            raise SignatureError()
        self.check_timestamp(params, now_ms)
        return credential.account

    def check_timestamp(self, params: Mapping[str, str], now_ms: int) -> None:
        raw_ts = params.get("timestamp")
        if not raw_ts:
            raise BadParameterError(
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        raw_window = params.get("recvWindow")
        try:
            timestamp = int(raw_ts)
            window = DEFAULT_RECV_WINDOW_MS if raw_window is None else int(raw_window)
        except ValueError:
            name = "recvWindow" if raw_ts.isdigit() else "timestamp"
            raise BadParameterError(
                f"Illegal characters found in parameter '{name}'; "
                "legal range is '^[0-9]{1,20}$'.",
                venue_code=-1100,
            ) from None
        if window <= 0 or window > self.max_recv_window_ms:
            raise BadParameterError(
                f"recvWindow must be less than {self.max_recv_window_ms}", venue_code=-1131
            )
        if timestamp >= now_ms + MAX_AHEAD_MS:
            raise TimestampError(
                "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now_ms - timestamp > window:
            raise TimestampError("Timestamp for this request is outside of the recvWindow.")
