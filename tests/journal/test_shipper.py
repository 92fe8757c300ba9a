"""The shipper against a real redis-server and the strict local ILP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis
from redis.exceptions import WatchError

from aggregator.journal.config import JournalConfig
from aggregator.journal.events import Event, SwapEvent
from aggregator.journal.outbox import Outbox
from aggregator.journal.schema import TABLES
from aggregator.journal.shipper import Shipper
from tests.journal.helpers import T0, make_events, wait_until
from tests.journal.ilp_endpoint import IlpEndpoint


def fast_config(endpoint: IlpEndpoint, **overrides: object) -> JournalConfig:
    values: dict[str, object] = {
        "questdb_http": endpoint.url,
        "block_ms": 20,
        "batch_size": 25,
        "backoff_initial_ms": 5,
        "backoff_max_ms": 40,
        "claim_interval_ms": 50,
    }
    values.update(overrides)
    return JournalConfig.model_validate(values)


async def produce(client: Redis, outbox: Outbox, events: Sequence[Event]) -> None:
    """Each event in its own MULTI/EXEC with the state change it records."""
    for event in events:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(f"state:{event.event_id}", "done")
            await outbox.append(pipe, event)
            await pipe.execute()


async def pending(client: Redis, config: JournalConfig) -> int:
    info = await client.xpending(config.outbox_key, config.group)
    return int(info["pending"])


async def stop(shipper: Shipper, task: asyncio.Task[None]) -> None:
    shipper.stop()
    await asyncio.wait_for(task, timeout=10)
    await shipper.aclose()


async def test_every_event_arrives_exactly_once_across_refused_connections_and_500s(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint)
    outbox = Outbox(config)
    events = make_events(240)
    sent = {event.event_id for event in events}
    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await produce(redis_client, outbox, events[:80])
        await wait_until(lambda: len(endpoint.event_ids()) == 80)

        await endpoint.set_mode("refuse")
        writes_before = endpoint.counters.write_requests
        failures_before = shipper.stats.flush_failures
        await produce(redis_client, outbox, events[80:140])
        await wait_until(lambda: shipper.stats.flush_failures >= failures_before + 3)
        assert endpoint.counters.write_requests == writes_before, "connections were refused"

        await endpoint.set_mode("commit_then_500")
        await wait_until(lambda: endpoint.counters.answered_500 >= 1)
        await endpoint.set_mode("error500")
        await produce(redis_client, outbox, events[140:180])
        await wait_until(lambda: endpoint.counters.answered_500 >= 4)
        assert await pending(redis_client, config) > 0, "nothing is acknowledged while failing"

        await endpoint.set_mode("ok")
        await produce(redis_client, outbox, events[180:])
        await wait_until(lambda: set(endpoint.event_ids()) == sent)
        await wait_until(lambda: shipper.stats.shipped >= len(events))
    finally:
        await stop(shipper, task)

    received = endpoint.event_ids()
    assert len(received) == len(set(received)) == len(events)
    assert set(received) == sent, "nothing missing, nothing extra"
    # The batch stored before its 500 was sent again: at-least-once delivery,
    # and the (ts, event_id) dedup key keeps one row per event.
    assert endpoint.counters.duplicates >= 1
    assert endpoint.counters.rows_received == len(events) + endpoint.counters.duplicates
    assert endpoint.counters.rejected == 0, endpoint.counters.errors
    assert await pending(redis_client, config) == 0
    assert await redis_client.xlen(config.outbox_key) == 0
    assert shipper.stats.flush_failures >= 7
    for event in events:
        assert await redis_client.get(f"state:{event.event_id}") == b"done"


async def test_pending_entries_of_a_dead_shipper_are_claimed_by_another(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config_a = fast_config(endpoint, consumer="shipper-a", claim_min_idle_ms=300)
    config_b = fast_config(endpoint, consumer="shipper-b", claim_min_idle_ms=300)
    events = make_events(30)
    dying = Shipper(redis_client, config_a)
    dying_task = asyncio.create_task(dying.run())
    await wait_until(lambda: len(endpoint.counters.ddl) == len(TABLES))
    await endpoint.set_mode("refuse")
    async with redis_client.pipeline(transaction=True) as pipe:  # all 30 appear at once
        await Outbox(config_a).append_many(pipe, events)
        await pipe.execute()
    await wait_until(lambda: dying.stats.flush_failures >= 2)
    consumers = await redis_client.xinfo_consumers(config_a.outbox_key, config_a.group)
    owned = {c["name"].decode(): c["pending"] for c in consumers}
    assert owned == {"shipper-a": 25}, "shipper-a holds its first batch unacknowledged"
    dying_task.cancel()  # dies without acknowledging or stopping cleanly
    with contextlib.suppress(asyncio.CancelledError):
        await dying_task
    await endpoint.set_mode("ok")

    survivor = Shipper(redis_client, config_b)
    task = asyncio.create_task(survivor.run())
    try:
        await wait_until(lambda: len(endpoint.event_ids()) == len(events))
        await wait_until(lambda: survivor.stats.shipped == len(events))
    finally:
        await stop(survivor, task)
        await dying.aclose()

    assert set(endpoint.event_ids()) == {e.event_id for e in events}
    assert dying.stats.shipped == 0
    assert survivor.stats.claimed == 25
    assert await pending(redis_client, config_b) == 0


async def test_a_restarted_shipper_first_ships_its_own_pending_entries(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint, consumer="same-name", claim_min_idle_ms=3_600_000)
    events = make_events(10)
    await produce(redis_client, Outbox(config), events)
    await redis_client.xgroup_create(config.outbox_key, config.group, id="0")
    # Delivered to this consumer name before a crash, never acknowledged.
    await redis_client.xreadgroup(config.group, config.consumer, {config.outbox_key: ">"})
    assert await pending(redis_client, config) == 10

    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await wait_until(lambda: len(endpoint.event_ids()) == 10)
        await wait_until(lambda: shipper.stats.shipped == 10)
    finally:
        await stop(shipper, task)
    assert shipper.stats.claimed == 0
    assert await pending(redis_client, config) == 0


async def test_undecodable_and_unencodable_entries_go_to_the_dead_letter_stream(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint)
    outbox = Outbox(config)
    good = make_events(5)
    too_big = SwapEvent(
        event_id="too-big",
        ts_event=T0,
        ts_recv=T0,
        swap_id="s",
        state_from="a",
        state_to="b",
        chain_pair="alpha->beta",
        gas_used=2**63,  # beyond a 64-bit LONG: the client refuses to encode it
    )
    await produce(redis_client, outbox, good[:2])
    await redis_client.xadd(config.outbox_key, {"kind": "quote", "event": "{not json"})
    await produce(redis_client, outbox, [too_big, *good[2:]])

    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await wait_until(lambda: shipper.stats.dead_lettered == 2)
        await wait_until(lambda: len(endpoint.event_ids()) == 5)
    finally:
        await stop(shipper, task)

    assert set(endpoint.event_ids()) == {e.event_id for e in good}
    dead = await redis_client.xrange(config.dead_letter_key)
    reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
    assert reasons == ["refused by the client encoder", "undecodable: ValidationError"]
    assert await pending(redis_client, config) == 0
    assert endpoint.counters.rejected == 0


async def test_each_event_kind_becomes_the_row_the_endpoint_parses(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint)
    events = make_events(7)
    await produce(redis_client, Outbox(config), events)
    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await wait_until(lambda: len(endpoint.event_ids()) == 7)
    finally:
        await stop(shipper, task)

    by_id = {str(row.fields["event_id"]): row for row in endpoint.rows()}
    for event in events:
        row = by_id[event.event_id]
        data = event.model_dump()
        assert row.ts_ns == event.ts_event
        assert row.fields["ts_event"] == event.ts_event
        assert row.fields["ts_recv"] == event.ts_recv
        for name, value in row.symbols.items():
            assert data[name] == value
        for name, value in row.fields.items():
            expected = data[name]
            if name in ("amount_in", "amount_out", "quoted_out", "executed_out"):
                assert value == str(expected)  # exact decimal digits, never a float
            else:
                assert value == expected, name
        sent_names = set(row.symbols) | set(row.fields)
        symbols = TABLES[event.kind].symbols
        skipped = {k for k, v in data.items() if v is None or (k in symbols and v == "")}
        assert sent_names == set(data) - {"kind"} - skipped
    quote_row = by_id["ev-00000"]
    assert quote_row.fields["amount_in"] == str(10**24)
    assert endpoint.rows("book_top")[0].fields["bid"] == 3005.25


async def test_without_questdb_the_outbox_stays_in_redis_up_to_its_cap(
    redis_client: Redis,
) -> None:
    config = JournalConfig(outbox_maxlen=100)
    assert not config.configured
    outbox = Outbox(config)
    await produce(redis_client, outbox, make_events(1000))
    length = await outbox.length(redis_client)
    assert 100 <= length < 1000  # MAXLEN ~ trims whole nodes, so a little above the cap
    shipper = Shipper(redis_client, config)
    await asyncio.wait_for(shipper.run(), timeout=5)  # returns at once: nothing to ship to
    assert await outbox.length(redis_client) == length


async def test_the_event_is_written_only_if_its_transaction_commits(redis_client: Redis) -> None:
    config = JournalConfig()
    outbox = Outbox(config)
    event = make_events(1)[0]
    await redis_client.set("swap:1", "v1")
    async with redis_client.pipeline(transaction=True) as pipe:
        await pipe.watch("swap:1")
        await redis_client.set("swap:1", "changed-by-someone-else")
        pipe.multi()
        pipe.set("swap:1", "v2")
        await outbox.append(pipe, event)
        with pytest.raises(WatchError):
            await pipe.execute()
    assert await outbox.length(redis_client) == 0
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.set("swap:1", "v2")
        await outbox.append(pipe, event)
        await pipe.execute()
    assert await outbox.length(redis_client) == 1


async def test_the_shipper_recreates_its_group_when_the_stream_is_lost(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint)
    outbox = Outbox(config)
    first, second = make_events(10), make_events(10, start=10)
    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await produce(redis_client, outbox, first)
        await wait_until(lambda: len(endpoint.event_ids()) == 10)
        await redis_client.flushall()  # the stream and its consumer group are gone
        await wait_until(lambda: shipper.stats.last_error == "ResponseError")
        await produce(redis_client, outbox, second)
        await wait_until(lambda: len(endpoint.event_ids()) == 20)
    finally:
        await stop(shipper, task)
    assert set(endpoint.event_ids()) == {e.event_id for e in first + second}


async def test_pending_entries_removed_by_the_cap_are_counted_and_released(
    redis_client: Redis, endpoint: IlpEndpoint
) -> None:
    config = fast_config(endpoint, consumer="capped", claim_min_idle_ms=3_600_000)
    outbox = Outbox(config)
    await produce(redis_client, outbox, make_events(10))
    await redis_client.xgroup_create(config.outbox_key, config.group, id="0")
    await redis_client.xreadgroup(config.group, config.consumer, {config.outbox_key: ">"})
    await redis_client.xtrim(config.outbox_key, maxlen=0, approximate=False)  # as the cap does
    assert await pending(redis_client, config) == 10

    later = make_events(5, start=10)
    shipper = Shipper(redis_client, config)
    task = asyncio.create_task(shipper.run())
    try:
        await wait_until(lambda: shipper.stats.trimmed == 10)
        await produce(redis_client, outbox, later)
        await wait_until(lambda: len(endpoint.event_ids()) == 5)
    finally:
        await stop(shipper, task)
    assert set(endpoint.event_ids()) == {e.event_id for e in later}
    assert await pending(redis_client, config) == 0
