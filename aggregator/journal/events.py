"""Audit events: what the service records about quotes, swaps, chains and venues.

Every event is a frozen model with a unique ``event_id``, a ``kind`` that
selects its QuestDB table, and the timestamp pair ``ts_event`` (when it
happened at the source) and ``ts_recv`` (when this service saw it), both in
integer nanoseconds. Amounts are base-unit integers; they travel as JSON
integers in the outbox and as decimal strings into QuestDB (a base-unit amount
can exceed a 64-bit ``LONG``), never as floats. Only display values (the best
bid and ask of a book top) are floats.

Events are written to the Redis outbox as JSON and read back with
:func:`decode_event`, which picks the model from ``kind``.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from aggregator.models.ids import random_id
from aggregator.models.quote import Quote

__all__ = [
    "BookTopEvent",
    "ChainHeadEvent",
    "ConnectorHealthEvent",
    "Event",
    "EventKind",
    "JournalEvent",
    "LegExecutionEvent",
    "QuoteEvent",
    "RenewedQuoteEvents",
    "RouteLegEvent",
    "SwapEvent",
    "decode_event",
    "encode_event",
    "new_event_id",
    "quote_events",
]

EventKind = Literal[
    "quote",
    "route_leg",
    "leg_execution",
    "swap_event",
    "chain_head",
    "book_top",
    "connector_health",
]

Amount = Annotated[int, Field(ge=0, description="Base units of the asset.")]
Nanos = Annotated[int, Field(ge=0, description="Integer nanoseconds since the Unix epoch.")]


def new_event_id() -> str:
    """A fresh random event id (128 random bits, hex)."""
    return random_id()


class JournalEvent(BaseModel):
    """Fields shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(
        default_factory=new_event_id,
        min_length=1,
        max_length=128,
        description="Unique id; with the timestamp it is the deduplication key in QuestDB.",
    )
    ts_event: Nanos = Field(description="When it happened at the source.")
    ts_recv: Nanos = Field(description="When this service saw it.")


class QuoteEvent(JournalEvent):
    """A quote the router produced."""

    kind: Literal["quote"] = "quote"
    quote_id: str
    sell: str = Field(description="Sold asset as asset@location, e.g. USDC@alpha.")
    buy: str = Field(description="Bought asset as asset@location.")
    amount_in: Amount
    amount_out: Amount
    legs: int = Field(ge=0, description="Number of legs over every path.")
    route: str = Field(description="Human-readable route summary.")
    compute_ns: int = Field(ge=0, description="Time the router spent on it.")


class RouteLegEvent(JournalEvent):
    """One leg of a quoted route."""

    kind: Literal["route_leg"] = "route_leg"
    quote_id: str
    leg: int = Field(ge=0, description="Leg index within the quote.")
    venue: str
    location: str
    amount_in: Amount
    amount_out: Amount


class LegExecutionEvent(JournalEvent):
    """A leg executed for a swap: what was quoted and what came out."""

    kind: Literal["leg_execution"] = "leg_execution"
    swap_id: str
    venue: str
    location: str
    quoted_out: Amount
    executed_out: Amount
    slippage_bps: int = Field(
        description="(quoted - executed) / quoted in basis points, rounded toward zero; "
        "positive when worse than quoted. Display only: metrics recompute it exactly."
    )

    @classmethod
    def create(
        cls,
        *,
        swap_id: str,
        venue: str,
        location: str,
        quoted_out: int,
        executed_out: int,
        ts_event: int,
        ts_recv: int,
        event_id: str | None = None,
    ) -> Self:
        """Build the event, computing ``slippage_bps`` from the two amounts."""
        diff = quoted_out - executed_out
        bps = 0 if quoted_out == 0 else abs(diff) * 10_000 // quoted_out * (1 if diff >= 0 else -1)
        return cls(
            event_id=event_id or new_event_id(),
            ts_event=ts_event,
            ts_recv=ts_recv,
            swap_id=swap_id,
            venue=venue,
            location=location,
            quoted_out=quoted_out,
            executed_out=executed_out,
            slippage_bps=bps,
        )


class SwapEvent(JournalEvent):
    """A swap state transition, with the transaction that caused it if any."""

    kind: Literal["swap_event"] = "swap_event"
    swap_id: str
    state_from: str = Field(description="State before the transition ('' for the first).")
    state_to: str
    chain: str = Field(default="", description="Chain key of the transaction; '' if none.")
    tx_hash: str = Field(default="", description="Transaction hash; '' if none.")
    block: int | None = Field(default=None, ge=0, description="Block of the transaction.")
    chain_pair: str = Field(description="Source and destination chains, e.g. alpha->beta.")
    gas_used: int | None = Field(
        default=None,
        ge=0,
        description="Gas attributed to this swap for this transaction "
        "(a batch transaction's gas divided among its swaps).",
    )
    batch_size: int | None = Field(
        default=None, ge=1, description="Swaps carried by the same transaction."
    )


class ChainHeadEvent(JournalEvent):
    """A new head seen on a chain: ``ts_event`` is its block time, ``ts_recv`` when seen."""

    kind: Literal["chain_head"] = "chain_head"
    chain: str
    height: int = Field(ge=0)
    block_time: Nanos
    seen: Nanos

    @model_validator(mode="after")
    def _timestamps_match(self) -> Self:
        if self.ts_event != self.block_time or self.ts_recv != self.seen:
            raise ValueError("a chain head has ts_event == block_time and ts_recv == seen")
        return self

    @classmethod
    def create(
        cls, *, chain: str, height: int, block_time: int, seen: int, event_id: str | None = None
    ) -> Self:
        return cls(
            event_id=event_id or new_event_id(),
            ts_event=block_time,
            ts_recv=seen,
            chain=chain,
            height=height,
            block_time=block_time,
            seen=seen,
        )


class BookTopEvent(JournalEvent):
    """Top of an order book, for display: prices and sizes are floats here only."""

    kind: Literal["book_top"] = "book_top"
    venue: str
    market: str
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None


class ConnectorHealthEvent(JournalEvent):
    """A connector's health as reported by it."""

    kind: Literal["connector_health"] = "connector_health"
    connector: str
    status: str = Field(description="e.g. healthy, stale, quarantined, down.")
    reason: str = ""
    age_ms: int = Field(ge=0, description="Age of the connector's newest data.")


Event = Annotated[
    QuoteEvent
    | RouteLegEvent
    | LegExecutionEvent
    | SwapEvent
    | ChainHeadEvent
    | BookTopEvent
    | ConnectorHealthEvent,
    Field(discriminator="kind"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def encode_event(event: Event) -> str:
    """JSON text of an event (integers stay exact)."""
    return event.model_dump_json()


def decode_event(data: str | bytes) -> Event:
    """Parse JSON text back into the event model named by its ``kind``."""
    return _EVENT_ADAPTER.validate_json(data)


def quote_event(quote: Quote, *, ts_recv: int | None = None) -> QuoteEvent:
    """The quote's own event (the first of :func:`quote_events`)."""
    route = " | ".join(
        " > ".join(f"{leg.venue}:{leg.asset_in}->{leg.asset_out}" for leg in path.legs)
        for path in quote.paths
    )
    return QuoteEvent(
        event_id=f"quote:{quote.id}",
        ts_event=quote.created_ns,
        ts_recv=quote.created_ns if ts_recv is None else ts_recv,
        quote_id=quote.id,
        sell=str(quote.request.sell),
        buy=str(quote.request.buy),
        amount_in=quote.amount_in,
        amount_out=quote.amount_out,
        legs=sum(len(path.legs) for path in quote.paths),
        route=route,
        compute_ns=quote.compute_ns,
    )


class RenewedQuoteEvents:
    """The JSON of the events of quotes renewed from one route, which differ only in the
    quote's id and times: serialized once, each quote's own fields put in front.

    ``event(quote_id, created_ns)`` is ``quote_event(quote)`` for such a quote (the
    route's event under the quote's id and times), and ``json(...)`` its JSON.
    """

    __slots__ = ("_event", "_tail")

    def __init__(self, route: Quote) -> None:
        self._event = quote_event(route)
        text = encode_event(self._event)
        head = self._head(self._event.quote_id, self._event.ts_event)
        # the fields after the quote's own ones; None if the JSON is not laid out that way
        self._tail = text[len(head) :] if text.startswith(head) else None

    @staticmethod
    def _head(quote_id: str, ts: int) -> str:
        if quote_id.isascii() and quote_id.isalnum():  # ids are hex: nothing to escape
            quote_json, event_json = f'"{quote_id}"', f'"quote:{quote_id}"'
        else:
            quote_json, event_json = json.dumps(quote_id), json.dumps(f"quote:{quote_id}")
        return (
            f'{{"event_id":{event_json},"ts_event":{ts},"ts_recv":{ts},'
            f'"kind":"quote","quote_id":{quote_json},'
        )

    def event(self, quote_id: str, created_ns: int) -> QuoteEvent:
        return self._event.model_copy(
            update={
                "event_id": f"quote:{quote_id}",
                "ts_event": created_ns,
                "ts_recv": created_ns,
                "quote_id": quote_id,
            }
        )

    def json(self, quote_id: str, created_ns: int) -> str:
        if self._tail is None:
            return encode_event(self.event(quote_id, created_ns))
        return self._head(quote_id, created_ns) + self._tail


def quote_events(quote: Quote, *, ts_recv: int | None = None) -> list[Event]:
    """The quote event and one route-leg event per leg, for a quote the router made.

    Event ids derive from the quote id, so recording the same quote twice
    yields the same rows in QuestDB rather than duplicates.
    """
    recv = quote.created_ns if ts_recv is None else ts_recv
    legs = quote.legs
    events: list[Event] = [quote_event(quote, ts_recv=ts_recv)]
    for index, leg in enumerate(legs):
        events.append(
            RouteLegEvent(
                event_id=f"quote:{quote.id}:leg:{index}",
                ts_event=quote.created_ns,
                ts_recv=recv,
                quote_id=quote.id,
                leg=index,
                venue=leg.venue,
                location=str(leg.location),
                amount_in=leg.amount_in,
                amount_out=leg.amount_out,
            )
        )
    return events
