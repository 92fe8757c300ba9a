"""The OpenAPI 3.1 document, generated from the operations and their pydantic models.

Every route is in it, with its parameters, request body, success response and
every error response it can give, each with the one error schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aggregator.api.routing import Operation
from aggregator.api.schemas import ErrorBody

__all__ = ["STATUS_TEXT", "build_openapi"]

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    101: "Switching to the WebSocket protocol",
    400: "Bad input: malformed JSON, unknown asset, invalid amount or address",
    401: "Missing or wrong API key",
    404: "Unknown id or route",
    405: "Method not allowed",
    409: "Quote expired, already used or not firm",
    413: "Request body too large",
    422: "The request breaks the schema, or no route serves the order",
    429: "Too many requests: retry after the Retry-After header's seconds",
    500: "Internal error",
    502: "A dependency (QuestDB) refused the request",
    503: "No healthy source, or the dependency is not configured",
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _models(operations: Sequence[Operation]) -> list[tuple[type[BaseModel], str]]:
    found: dict[tuple[type[BaseModel], str], None] = {(ErrorBody, "serialization"): None}
    for op in operations:
        if op.body is not None:
            found[(op.body, "validation")] = None
        if op.response is not None:
            found[(op.response, "serialization")] = None
    return list(found)


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        }
    return response


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        spec["description"] = op.description
    if op.params:
        spec["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required or p.where == "path",
                "description": p.description,
                "schema": dict(p.schema),
            }
            for p in op.params
        ]
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.status == 101:
        responses["101"] = {"description": STATUS_TEXT[101]}
    elif op.response is not None:
        responses[str(op.status)] = {
            "description": STATUS_TEXT.get(op.status, "OK"),
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
    else:
        kind = "object" if op.content_type == "application/json" else "string"
        responses[str(op.status)] = {
            "description": STATUS_TEXT.get(op.status, "OK"),
            "content": {op.content_type: {"schema": {"type": kind}}},
        }
    for status in sorted({*op.errors, 500}):
        responses[str(status)] = _error_response(status)
    for code, extra in op.extra_responses.items():
        if isinstance(extra, type) and issubclass(extra, BaseModel):
            responses[code] = {
                "description": STATUS_TEXT.get(int(code), "See the body"),
                "content": {"application/json": {"schema": refs[(extra, "serialization")]}},
            }
    spec["responses"] = responses
    if op.auth:
        spec["security"] = [{"ApiKey": []}]
    return spec


def build_openapi(
    operations: Sequence[Operation], *, title: str, version: str, description: str
) -> dict[str, Any]:
    """The whole document (a JSON-ready dict)."""
    models = _models(operations)
    for op in operations:
        for extra in op.extra_responses.values():
            if isinstance(extra, type) and issubclass(extra, BaseModel):
                models.append((extra, "serialization"))
    mode_models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation" if mode == "validation" else "serialization") for m, mode in models
    ]
    refs, defs = models_json_schema(mode_models, ref_template="#/components/schemas/{model}")
    by_model: dict[tuple[type[BaseModel], str], Any] = {}
    for (model, mode), schema in refs.items():
        if isinstance(model, type) and issubclass(model, BaseModel):
            by_model[(model, mode)] = schema
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, by_model)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
