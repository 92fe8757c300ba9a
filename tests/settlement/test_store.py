"""Swap records, leases, nonces, quotes and reservations in a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from aggregator.errors import (
    ConflictError,
    LeaseLostError,
    QuoteAlreadyUsedError,
    QuoteExpiredError,
    QuoteNotFoundError,
    StateConflictError,
    SwapNotFoundError,
)
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import SwapEvent
from aggregator.journal.outbox import Outbox, decode_entry
from aggregator.models import AssetAt, Location
from aggregator.models.units import now_ns
from aggregator.settlement.leases import LeaseManager
from aggregator.settlement.nonces import NonceManager
from aggregator.settlement.quotes import QuoteStore
from aggregator.settlement.reservations import RedisReservationStore
from aggregator.settlement.store import SwapStore, Transition, TxRecord, UnconfirmedTx
from aggregator.settlement.swap import SwapPhase, TxKind, TxRef
from tests.settlement.factories import RESOLVER, make_swap, new_secret
from tests.settlement.quotes import fixed_rate_quote


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _store(redis: Redis) -> SwapStore:
    return SwapStore(redis, Outbox(JournalConfig()))


async def _events(redis: Redis) -> list[SwapEvent]:
    entries: Any = await redis.xrange(JournalConfig().outbox_key)
    events = [decode_entry(fields) for _, fields in entries]
    return [e for e in events if isinstance(e, SwapEvent)]


async def test_every_transition_is_versioned_and_writes_its_outbox_event(redis: Redis) -> None:
    store = _store(redis)
    _, hashlock = new_secret()
    swap = await store.create(make_swap(hashlock))
    assert (await store.get(swap.id)).version == 1
    moved = swap.model_copy(update={"phase": SwapPhase.SOURCE_LOCKED, "source_lock_block": 5})
    [after] = await store.commit([Transition(swap, moved)], lease_token=None)
    assert after.version == 2 and (await store.get(swap.id)) == after
    events = await _events(redis)
    assert [(e.state_from, e.state_to) for e in events] == [
        ("", "awaiting_source_lock"),
        ("awaiting_source_lock", "source_locked"),
    ]
    assert {e.chain_pair for e in events} == {"alpha->beta"}
    assert await store.active_ids() == [swap.id]
    assert [s.id for s in await store.list_swaps(SwapPhase.SOURCE_LOCKED)] == [swap.id]
    assert await store.list_swaps(SwapPhase.AWAITING_SOURCE_LOCK) == []


async def test_a_stale_version_loses_the_compare_and_set_and_writes_nothing(redis: Redis) -> None:
    store = _store(redis)
    _, hashlock = new_secret()
    swap = await store.create(make_swap(hashlock))
    first = swap.model_copy(update={"phase": SwapPhase.SOURCE_LOCKED})
    await store.commit([Transition(swap, first)], lease_token=None)
    second = swap.model_copy(update={"phase": SwapPhase.EXPIRED})
    with pytest.raises(StateConflictError):
        await store.commit([Transition(swap, second)], lease_token=None)
    assert (await store.get(swap.id)).phase is SwapPhase.SOURCE_LOCKED
    assert len(await _events(redis)) == 2


async def test_concurrent_commits_of_one_version_let_exactly_one_win(redis: Redis) -> None:
    store = _store(redis)
    _, hashlock = new_secret()
    swap = await store.create(make_swap(hashlock))
    targets = [SwapPhase.SOURCE_LOCKED, SwapPhase.EXPIRED] * 10

    async def attempt(phase: SwapPhase) -> bool:
        try:
            await store.commit(
                [Transition(swap, swap.model_copy(update={"phase": phase}))], lease_token=None
            )
        except StateConflictError:
            return False
        return True

    results = await asyncio.gather(*(attempt(p) for p in targets))
    assert sum(results) == 1
    assert (await store.get(swap.id)).version == 2


async def test_a_hashlock_serves_one_swap_only(redis: Redis) -> None:
    store = _store(redis)
    _, hashlock = new_secret()
    await store.create(make_swap(hashlock))
    with pytest.raises(ConflictError):
        await store.create(make_swap(hashlock, lock_deadline=1))
    with pytest.raises(SwapNotFoundError):
        await store.get("0x" + "00" * 32)


async def test_leases_fence_commits_of_a_coordinator_that_lost_its_lease(redis: Redis) -> None:
    store = _store(redis)
    _, hashlock = new_secret()
    swap = await store.create(make_swap(hashlock))
    one = LeaseManager(redis, ttl_ms=200)
    two = LeaseManager(redis, ttl_ms=5_000)
    assert await one.acquire(swap.id)
    assert not await two.acquire(swap.id)
    moved = swap.model_copy(update={"phase": SwapPhase.SOURCE_LOCKED})
    with pytest.raises(LeaseLostError):
        await store.commit([Transition(swap, moved)], lease_token=two.token)
    await asyncio.sleep(0.3)  # one's lease runs out; two takes over
    assert await two.acquire_many([swap.id]) == [swap.id]
    assert await one.renew() == [swap.id]
    with pytest.raises(LeaseLostError):
        await store.commit([Transition(swap, moved)], lease_token=one.token)
    [after] = await store.commit([Transition(swap, moved)], lease_token=two.token)
    assert after.phase is SwapPhase.SOURCE_LOCKED
    await two.release(swap.id)
    assert await one.acquire(swap.id)


def _tx(nonce: int, tx_hash: str, swap_id: str) -> TxRecord:
    return TxRecord(
        chain="beta",
        chain_id=31002,
        sender=RESOLVER,
        hash=tx_hash,
        nonce=nonce,
        raw="0x02",
        kind=TxKind.DESTINATION_LOCK,
        swap_ids=(swap_id,),
        created_ns=now_ns(),
    )


async def test_a_transaction_takes_its_nonce_in_the_same_commit(redis: Redis) -> None:
    store = _store(redis)
    nonces = NonceManager(redis)
    _, h1 = new_secret()
    _, h2 = new_secret()
    a = await store.create(make_swap(h1, phase=SwapPhase.SOURCE_LOCKED))
    b = await store.create(make_swap(h2, phase=SwapPhase.SOURCE_LOCKED))
    await nonces.reconcile(31002, RESOLVER, chain_nonce=4)
    hash_a = "0x" + "aa" * 32
    ref = TxRef(kind=TxKind.DESTINATION_LOCK, chain="beta", hash=hash_a, nonce=4)
    sent = a.model_copy(update={"phase": SwapPhase.DESTINATION_LOCKING, "pending": ref})
    [sent] = await store.commit([Transition(a, sent)], lease_token=None, tx=_tx(4, hash_a, a.id))
    assert await nonces.peek(31002, RESOLVER) == 5
    recorded = await store.get_tx(31002, hash_a)
    assert recorded is not None and (recorded.nonce, recorded.swap_ids) == (4, (a.id,))
    # a second transaction signed with the same nonce is refused and nothing is written
    hash_b = "0x" + "bb" * 32
    sent_b = b.model_copy(update={"phase": SwapPhase.DESTINATION_LOCKING})
    with pytest.raises(StateConflictError):
        await store.commit([Transition(b, sent_b)], lease_token=None, tx=_tx(4, hash_b, b.id))
    assert await store.get_tx(31002, hash_b) is None
    assert (await store.get(b.id)).phase is SwapPhase.SOURCE_LOCKED
    # after a restart, the recorded but unincluded transaction is handed back for rebroadcast
    again = await nonces.reconcile(31002, RESOLVER, chain_nonce=4)
    assert again.next_nonce == 5 and [t.hash for t in again.rebroadcast] == [hash_a]
    assert again.gaps == ()
    # once its receipt is recorded, it leaves the backlog
    await store.commit(
        [Transition(sent, sent.model_copy(update={"pending": None}))],
        lease_token=None,
        confirmed=[UnconfirmedTx(31002, RESOLVER, hash_a)],
    )
    assert (await nonces.reconcile(31002, RESOLVER, chain_nonce=4)).rebroadcast == ()
    # the chain moved on without us (other senders, or lost state): the counter follows it
    assert (await nonces.reconcile(31002, RESOLVER, chain_nonce=9)).next_nonce == 9


async def test_quote_store_hands_a_quote_to_one_swap_only(redis: Redis) -> None:
    quotes = QuoteStore(redis)
    quote = fixed_rate_quote(amount_in=10**9, rate=Decimal("0.0003"), ttl_s=30)
    await quotes.put(quote)
    assert await quotes.get(quote.id) == quote
    results = await asyncio.gather(
        *(quotes.mark_used(quote.id) for _ in range(8)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, QuoteAlreadyUsedError) for r in results if isinstance(r, Exception))
    expired = fixed_rate_quote(amount_in=10**9, rate=Decimal("0.0003"), ttl_s=-1)
    await quotes.put(expired)
    with pytest.raises(QuoteExpiredError):
        await quotes.mark_used(expired.id)
    with pytest.raises(QuoteNotFoundError):
        await quotes.get("nope")


async def _store_by_reference(
    redis: Redis, quotes: QuoteStore, quote: Any, route: str, *, with_route: bool = False
) -> Any:
    """Run :meth:`QuoteStore.reference_lua` on its own; its EXISTS reply."""
    route_json = quote.model_dump_json(exclude={"id", "created_ns", "expires_ns"}).encode()
    args = quotes.reference_args(quote, route, route_json if with_route else b"")
    lua = "local replies = {}" + quotes.reference_lua(1) + "return replies[1]"
    return await redis.eval(lua, 0, *args)


async def test_quotes_stored_by_reference_read_back_whole_and_keep_their_route_alive(
    redis: Redis,
) -> None:
    quotes = QuoteStore(redis, prefix="t-ref")
    route = quotes.route_key("r1")
    first = fixed_rate_quote(amount_in=10**9, rate=Decimal("0.0003"), ttl_s=30)
    later = first.model_copy(update={"id": "q2", "expires_ns": first.expires_ns + 20 * 10**9})
    await _store_by_reference(redis, quotes, first, route, with_route=True)
    assert await redis.exists(route) == 1
    await _store_by_reference(redis, quotes, later, route)
    assert await quotes.get(first.id) == first
    assert await quotes.get(later.id) == later
    assert len(await redis.get(quotes._key(later.id)) or b"") < 300  # a reference, not the JSON
    # the route lives past both quotes, and an earlier quote never shortens it
    await _store_by_reference(redis, quotes, first, route)
    assert await redis.pttl(route) > await redis.pttl(quotes._key(later.id))
    # a reference quote goes to one swap, like any other
    assert (await quotes.mark_used(later.id)) == later
    with pytest.raises(QuoteAlreadyUsedError):
        await quotes.mark_used(later.id)
    # its route gone, the quote is gone: not found, and not left marked as used
    await redis.delete(route)
    with pytest.raises(QuoteNotFoundError):
        await quotes.get(first.id)
    with pytest.raises(QuoteNotFoundError):
        await quotes.mark_used(first.id)
    assert await redis.exists(quotes._used(first.id)) == 0


async def test_reservations_are_all_or_nothing_exact_and_expire(redis: Redis) -> None:
    store = RedisReservationStore(redis)
    weth = AssetAt(asset="WETH", location=Location.chain("beta", 31002))
    usdc = AssetAt(asset="USDC", location=Location.chain("beta", 31002))
    big = 10**24 + 7  # beyond 64-bit counters and exact doubles
    await store.set_inventory({weth: big, usdc: 5_000_000})
    far = now_ns() + 60 * 10**9
    assert await store.reserve("q1", {weth: 10**24, usdc: 1}, far)
    assert await store.available(weth) == 7
    assert await store.reserved(weth) == 10**24
    # q2 would fit in USDC but not in WETH: nothing is reserved
    assert not await store.reserve("q2", {usdc: 1_000_000, weth: 8}, far)
    assert await store.available(usdc) == 4_999_999
    assert await store.reserve("q3", {weth: 7}, now_ns() + 200_000_000)
    assert await store.available(weth) == 0
    await store.release("q1")
    assert await store.available(weth) == 10**24
    await asyncio.sleep(0.3)  # q3 expired
    assert await store.available(weth) == big
    assert await store.reserved(weth) == 0


async def test_concurrent_reservations_never_promise_the_same_inventory(redis: Redis) -> None:
    store = RedisReservationStore(redis)
    usdc = AssetAt(asset="USDC", location=Location.chain("alpha", 31001))
    await store.set_inventory({usdc: 10_000})
    far = now_ns() + 60 * 10**9
    results = await asyncio.gather(*(store.reserve(f"q{i}", {usdc: 700}, far) for i in range(40)))
    assert sum(results) == 10_000 // 700
    assert await store.available(usdc) == 10_000 - 700 * (10_000 // 700)


async def test_reconcile_follows_the_pool_and_reports_nonces_taken_without_a_record(
    redis: Redis,
) -> None:
    nonces = NonceManager(redis)
    # another sender's transactions wait in the node's pool: the counter moves past them
    first = await nonces.reconcile(31003, RESOLVER, chain_nonce=3, pending_nonce=5)
    assert (first.next_nonce, first.rebroadcast, first.gaps) == (5, (), ())
    # a counter ahead of the chain with nothing on record for 5 and 6: gaps to fill
    await redis.set(nonces.keys.nonce(31003, RESOLVER), 7)
    again = await nonces.reconcile(31003, RESOLVER, chain_nonce=5, pending_nonce=5)
    assert again.next_nonce == 7 and again.gaps == (5, 6)
