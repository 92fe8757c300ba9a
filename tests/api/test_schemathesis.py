"""Property-based requests from the OpenAPI document against the running service.

Every operation of the document gets generated requests, valid and invalid
ones (schemathesis's positive and negative modes), sent to the service on the
devnet with a valid API key. No response may be a 5xx, except the analytics
routes' documented 503 ``analytics_unavailable`` (no QuestDB in this test),
and every response must match the document: status, content type, headers
and body schema. The run is bounded per operation and counted: well over a
thousand requests in total.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aggregator.api.app import openapi_document
from tests.api.conftest import API_KEY, ServiceThread

pytestmark = [pytest.mark.devnet, pytest.mark.slow]

MAX_EXAMPLES = 90
SENT: dict[str, int] = {}

schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)

CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def session(service: ServiceThread) -> Any:
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def base_url(service: ServiceThread) -> str:
    return service.url


@schema.exclude(path="/v1/stream").parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms_and_never_fails_on_the_server(
    case: schemathesis.Case, base_url: str, session: requests.Session
) -> None:
    headers = {"X-API-Key": API_KEY} if case.operation.path.startswith("/v1/swaps") else None
    response = case.call(base_url=base_url, session=session, headers=headers)
    key = f"{case.method} {case.path}"
    SENT[key] = SENT.get(key, 0) + 1
    if case.path.startswith("/v1/analytics/") and response.status_code == 503:
        assert response.json()["code"] == "analytics_unavailable"
    else:
        case.validate_response(response, checks=[not_a_server_error])
    case.validate_response(response, checks=CONFORMANCE)


def test_the_websocket_route_refuses_plain_http_with_the_error_shape(base_url: str) -> None:
    response = requests.get(f"{base_url}/v1/stream", timeout=10)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_more_than_a_thousand_requests_were_sent() -> None:
    # runs after the generated tests of this module (file order)
    total = sum(SENT.values())
    assert len(SENT) >= 15, SENT
    assert total >= 1000, SENT
