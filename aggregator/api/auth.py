"""API keys: stored as sha256 digests, compared in constant time.

A presented key is hashed and compared with every stored digest with
:func:`hmac.compare_digest`, always all of them, so the time taken says
nothing about which key (or how much of one) matched. The digest of the key
that matched is what rate limits are keyed by: plaintext keys are never kept.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web

from aggregator.errors import AuthError
from aggregator.settings import hash_api_key

__all__ = ["API_KEY_HEADER", "ApiKeyAuth"]

API_KEY_HEADER = "X-API-Key"


class ApiKeyAuth:
    """The accepted keys, by digest."""

    def __init__(self, digests: Iterable[str]) -> None:
        self._digests = tuple(sorted({d.lower() for d in digests}))

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def verify(self, key: str) -> str | None:
        """The matching digest, or None; constant time in which key matched."""
        presented = hash_api_key(key)
        found: str | None = None
        for digest in self._digests:
            if hmac.compare_digest(presented, digest):
                found = digest
        return found

    def require(self, request: web.Request) -> str:
        """The caller's key digest; :class:`AuthError` if the key is missing or wrong."""
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            raise AuthError(f"this endpoint needs an API key in the {API_KEY_HEADER} header")
        digest = self.verify(key)
        if digest is None:
            raise AuthError("the API key is not valid")
        return digest
