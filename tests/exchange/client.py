"""A minimal Binance-style REST client for the exchange tests (aiohttp, signed requests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from aggregator.exchange.auth import sign


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any


class RestClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        api_secret: str,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock_ms = clock_ms

    async def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        url = URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
        sent_headers = dict(headers or {})
        if body:
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.session.request(
            method, url, data=body.encode() if body else None, headers=sent_headers
        ) as response:
            text = await response.text()
            try:
                parsed: Any = await response.json(content_type=None) if text else None
            except ValueError:
                parsed = text
            return Reply(response.status, dict(response.headers), parsed)

    async def public(self, path: str, **params: Any) -> Reply:
        return await self.call("GET", path, urlencode(params))

    def signed_query(
        self,
        params: Mapping[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        recv_window: int | None = None,
    ) -> str:
        full = dict(params)
        if recv_window is not None:
            full["recvWindow"] = recv_window
        full["timestamp"] = self.clock_ms() if timestamp is None else timestamp
        query = urlencode(full)
        return f"{query}&signature={sign(secret or self.api_secret, query)}"

    async def signed(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        recv_window: int | None = None,
        in_body: bool = False,
    ) -> Reply:
        query = self.signed_query(
            params or {}, secret=secret, timestamp=timestamp, recv_window=recv_window
        )
        headers = {"X-MBX-APIKEY": self.api_key if api_key is None else api_key}
        if in_body:
            return await self.call(method, path, body=query, headers=headers)
        return await self.call(method, path, query=query, headers=headers)
