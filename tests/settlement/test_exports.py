"""The public surface of the settlement and client packages is curated."""

from __future__ import annotations

import importlib

import pytest

from aggregator.router import AsyncReservationStore
from aggregator.settlement import RedisReservationStore

PACKAGES = {
    "aggregator.settlement": {
        "Coordinator",
        "SettlementService",
        "SwapTicket",
        "Swap",
        "SwapPhase",
        "step",
        "RedisReservationStore",
        "QuoteStore",
    },
    "aggregator.client": {"TraderClient", "SecretVault", "SwapApi"},
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_exported_name_exists_and_the_list_is_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda n: (not n[0].isupper(), n))
    for item in exported:
        assert getattr(module, item) is not None, item
    assert PACKAGES[name] <= set(exported)


def test_the_redis_reservation_store_satisfies_the_router_protocol() -> None:
    store = RedisReservationStore.__new__(RedisReservationStore)
    assert isinstance(store, AsyncReservationStore)
