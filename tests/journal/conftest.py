"""Fixtures of the journal tests: the strict ILP endpoint and an asyncio Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.fixtures.processes import free_port
from tests.journal.ilp_endpoint import IlpEndpoint


@pytest.fixture
async def endpoint() -> AsyncIterator[IlpEndpoint]:
    server = IlpEndpoint(free_port())
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
