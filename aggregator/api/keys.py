"""Typed application state: every value the app holds is under a ``web.AppKey``."""

from __future__ import annotations

from aiohttp import web

from aggregator.api.context import ApiContext

__all__ = ["CONTEXT", "DOCS_HTML", "OPENAPI_JSON"]

CONTEXT = web.AppKey("context", ApiContext)
"""The worker's services."""

OPENAPI_JSON = web.AppKey("openapi_json", bytes)
"""The OpenAPI document, rendered once at start."""

DOCS_HTML = web.AppKey("docs_html", bytes)
"""The /docs page, rendered from the OpenAPI document at start."""
