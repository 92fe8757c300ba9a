"""Event models, their tables, and the package's public surface."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

import aggregator.journal as journal
from aggregator.journal.config import JournalConfig
from aggregator.journal.events import (
    ChainHeadEvent,
    LegExecutionEvent,
    decode_event,
    encode_event,
    quote_events,
)
from aggregator.journal.outbox import Outbox
from aggregator.journal.schema import TABLES, create_table_sql, event_to_row
from aggregator.models import (
    AssetAt,
    CostBreakdown,
    Location,
    Quote,
    QuoteLeg,
    QuotePath,
    QuoteRequest,
    SettlementPlan,
)
from tests.journal.helpers import make_events


def test_every_kind_round_trips_through_the_outbox_encoding_exactly() -> None:
    events = make_events(14)
    assert {e.kind for e in events} == set(TABLES)
    for event in events:
        assert decode_event(encode_event(event)) == event
    quote = events[0]
    assert '"amount_in":1000000000000000000000000' in encode_event(quote)


def test_each_table_holds_exactly_its_model_fields() -> None:
    for event in make_events(7):
        spec = TABLES[event.kind]
        fields = set(type(event).model_fields) - {"kind"}
        assert {name for name, _ in spec.columns} == fields, event.kind
        ddl = create_table_sql(spec, "x_")
        assert ddl.startswith(f"CREATE TABLE IF NOT EXISTS x_{spec.name} (")
        assert ddl.endswith("TIMESTAMP(ts) PARTITION BY DAY WAL\nDEDUP UPSERT KEYS(ts, event_id)")


def test_amounts_become_decimal_strings_and_empty_symbols_null() -> None:
    swap, quote = make_events(4)[3], make_events(1)[0]
    row = event_to_row(quote, "p_")
    assert row.table == "p_quotes"
    assert row.columns["amount_in"] == str(10**24) and isinstance(row.columns["legs"], int)
    blank = swap.model_copy(update={"chain": "", "tx_hash": "", "gas_used": None})
    row = event_to_row(blank)
    assert row.symbols["chain"] is None
    assert row.columns["tx_hash"] == ""
    assert row.columns["gas_used"] is None
    assert row.ts_ns == swap.ts_event


def test_chain_head_timestamps_are_its_block_time_and_when_seen() -> None:
    head = ChainHeadEvent.create(chain="alpha", height=5, block_time=100, seen=130)
    assert (head.ts_event, head.ts_recv) == (100, 130)
    with pytest.raises(ValidationError):
        ChainHeadEvent(ts_event=1, ts_recv=130, chain="a", height=5, block_time=100, seen=130)


@pytest.mark.parametrize(
    ("quoted", "executed", "bps"),
    [(10_000, 9_950, 50), (10_000, 10_003, -3), (3, 2, 3333), (3, 4, -3333), (0, 0, 0)],
)
def test_leg_slippage_rounds_toward_zero(quoted: int, executed: int, bps: int) -> None:
    leg = LegExecutionEvent.create(
        swap_id="s",
        venue="v",
        location="l",
        quoted_out=quoted,
        executed_out=executed,
        ts_event=1,
        ts_recv=2,
    )
    assert leg.slippage_bps == bps


def test_a_quote_becomes_one_quote_event_and_one_event_per_leg() -> None:
    alpha, clob = Location.chain("alpha", 31337), Location.venue("clob")
    usdc_a, usdc_c = AssetAt(asset="USDC", location=alpha), AssetAt(asset="USDC", location=clob)
    weth_c = AssetAt(asset="WETH", location=clob)
    legs = (
        QuoteLeg(kind="transfer", venue="inventory", location=clob, asset_in=usdc_a,
                 asset_out=usdc_c, amount_in=10**10, amount_out=10**10, share_bps=10_000),
        QuoteLeg(kind="trade", venue="clob", market_id="WETH-USDC", location=clob,
                 asset_in=usdc_c, asset_out=weth_c, amount_in=10**10, amount_out=3 * 10**18,
                 share_bps=10_000),
    )  # fmt: skip
    quote = Quote(
        id="q-1",
        request=QuoteRequest(sell=usdc_a, buy=weth_c, amount=10**10),
        amount_in=10**10,
        amount_out=3 * 10**18,
        min_amount_out=3 * 10**18 - 1,
        effective_price=Decimal("0.0003"),
        price_impact_bps=Decimal(1),
        paths=(QuotePath(legs=legs, amount_in=10**10, amount_out=3 * 10**18, share_bps=10_000),),
        costs=CostBreakdown(),
        settlement=SettlementPlan(
            source_chain="alpha",
            source_chain_id=31337,
            destination_chain="alpha",
            destination_chain_id=31337,
            source_timelock_s=3600,
            destination_timelock_s=1800,
            eta_s=30,
        ),
        best_single_path_out=3 * 10**18,
        improvement_bps=Decimal(0),
        excluded=(),
        created_ns=1_000,
        expires_ns=2_000,
        snapshot_ns=900,
        compute_ns=77,
    )
    head, *rest = quote_events(quote, ts_recv=1_005)
    assert head.kind == "quote"
    assert (head.sell, head.buy, head.legs, head.compute_ns) == ("USDC@alpha", "WETH@clob", 2, 77)
    assert (head.ts_event, head.ts_recv, head.amount_out) == (1_000, 1_005, 3 * 10**18)
    assert [(r.leg, r.venue, r.location, r.amount_out) for r in rest] == [
        (0, "inventory", "clob", 10**10),
        (1, "clob", "clob", 3 * 10**18),
    ]
    assert quote_events(quote) == quote_events(quote)  # ids derive from the quote: replay-safe


def test_public_surface_is_curated_and_importable() -> None:
    assert sorted(journal.__all__) == sorted(set(journal.__all__))
    for name in journal.__all__:
        assert getattr(journal, name) is not None


async def test_an_outbox_command_is_the_xadd_a_pipeline_would_send() -> None:
    outbox = Outbox(JournalConfig())
    pipe = Redis().pipeline(transaction=False)  # collects commands; nothing is sent
    for event in make_events(12):
        await outbox.append(pipe, event)
        [(args, _)] = pipe.command_stack
        pipe.command_stack.clear()
        assert outbox.command(event) == tuple(args)


def test_renewed_quotes_events_spliced_from_the_routes_json_are_their_own_events() -> None:
    from aggregator.journal.events import RenewedQuoteEvents, decode_event, quote_event
    from aggregator.router.trusted import replaced
    from tests.settlement.quotes import fixed_rate_quote

    route = fixed_rate_quote(amount_in=10**9, rate=Decimal("0.0003"), ttl_s=30)
    renewed = RenewedQuoteEvents(route)
    for quote_id, created in (("ab" * 16, route.created_ns + 7), ("other", 1)):
        quote = replaced(route, id=quote_id, created_ns=created)
        text = renewed.json(quote_id, created)
        assert decode_event(text) == quote_event(quote)
        assert text == quote_event(quote).model_dump_json()  # the same bytes, in order
