"""Operations, request parsing, JSON responses and the error middleware.

Each endpoint is declared once as an :class:`Operation` (method, path, body and
response models, the errors it can answer, its parameters); the router and
the OpenAPI document are both built from these declarations, so the spec
cannot drift from what is served.

Errors have one shape, ``{code, message, details}``. The middleware turns a
typed :class:`~aggregator.errors.AggregatorError` into its status, aiohttp's
own HTTP errors into the same shape, and anything unexpected into a logged
500 ``internal_error`` without details.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import (
    AggregatorError,
    InvalidAmountError,
    MalformedJsonError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestSchemaError,
)

__all__ = [
    "Handler",
    "Operation",
    "Param",
    "error_middleware",
    "error_response",
    "json_response",
    "parse_body",
    "read_body",
    "read_raw",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

_AMOUNT_FIELDS = frozenset({"amount"})


@dataclass(frozen=True)
class Param:
    """A path or query parameter of an operation."""

    name: str
    where: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One endpoint, as served and as documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    auth: bool = False
    content_type: str = "application/json"
    description: str = ""
    extra_responses: Mapping[str, Any] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.__pydantic_serializer__.to_json(model),
        status=status,
        content_type="application/json",
    )


def error_response(exc: AggregatorError) -> web.Response:
    body = exc.to_dict()
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return web.json_response(body, status=exc.status, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str, separators=(",", ":"))


def _schema_error(exc: PydanticValidationError) -> AggregatorError:
    fields = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "json_invalid":
            return MalformedJsonError("the request body is not valid JSON", error=err["msg"])
        if loc and loc[-1] in _AMOUNT_FIELDS:
            return InvalidAmountError(
                'amounts are strings of base-unit integers, e.g. "1000000"',
                field=".".join(loc),
                reason="not_a_string",
            )
        fields.append(
            {"field": ".".join(loc) or "<body>", "message": err["msg"], "type": err["type"]}
        )
    return RequestSchemaError("the request does not match the schema", fields=fields)


async def read_raw(request: web.Request, max_bytes: int) -> bytes:
    """The request body, not empty and within ``max_bytes``; typed 400/413 errors otherwise."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLargeError("the request body is too large", limit=max_bytes)
    content = request.content
    try:
        if content.is_eof():  # the whole body is here (the usual case): take it as it is
            raw = content.read_nowait()
        else:
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError("the request body is too large", limit=max_bytes) from None
    if len(raw) > max_bytes:
        raise PayloadTooLargeError("the request body is too large", limit=max_bytes)
    if not raw.strip():
        raise MalformedJsonError("the request needs a JSON body")
    return raw


def parse_body(raw: bytes, model: type[M]) -> M:
    """``raw`` JSON validated into ``model``; typed 400/422 errors otherwise."""
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        raise _schema_error(exc) from None
    except ValueError:
        raise MalformedJsonError("the request body is not valid JSON") from None


async def read_body(request: web.Request, model: type[M], max_bytes: int) -> M:
    """The JSON body validated into ``model``; typed 400/413/422 errors otherwise."""
    return parse_body(await read_raw(request, max_bytes), model)


def _http_error(exc: web.HTTPException) -> AggregatorError:
    if exc.status == 404:
        return NotFoundError("no such route", path=exc.reason)
    if exc.status == 405:
        return MethodNotAllowedError("method not allowed on this route")
    if exc.status == 413:
        return PayloadTooLargeError("the request body is too large")
    error = AggregatorError(exc.reason or "HTTP error")
    error.code = f"http_{exc.status}"  # type: ignore[misc]
    error.status = exc.status  # type: ignore[misc]
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AggregatorError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.path, exc.code, exc.message)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_http_error(exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return web.json_response(
            {"code": "internal_error", "message": "internal error", "details": {}}, status=500
        )
