"""Response bodies of the quote and swap endpoints, and their conversion from the domain.

Every amount is a string of base units; timestamps are integer nanoseconds;
prices and basis-point figures that are not whole are decimal strings.
Views are assembled without validation from domain objects that were
validated where they were made.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from aggregator.models.assets import AssetAt
from aggregator.models.quote import Quote, QuoteLeg
from aggregator.router.trusted import build
from aggregator.settlement.legs import LegRecord
from aggregator.settlement.service import SwapTicket
from aggregator.settlement.swap import Swap
from aggregator.settlement.terms import HtlcTerms

__all__ = [
    "AssetAtView",
    "CostsView",
    "ExclusionView",
    "HistoryItem",
    "LegExecutionView",
    "LegView",
    "LockView",
    "PathView",
    "QuoteView",
    "QuoteViewCache",
    "SettlementPlanView",
    "SwapListView",
    "SwapTicketView",
    "SwapView",
    "TermsView",
    "TxView",
    "quote_view",
    "swap_ticket_view",
    "swap_view",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AssetAtView(_View):
    asset: str = Field(description="Canonical symbol.")
    location: str = Field(description="Chain key or venue key.")
    kind: Literal["chain", "venue"]
    chain_id: int | None = Field(description="EIP-155 chain id; null for a venue.")


class LegView(_View):
    kind: Literal["trade", "transfer"]
    venue: str
    market_id: str | None
    side: Literal["sell_base", "buy_base"] | None
    location: str
    asset_in: AssetAtView
    asset_out: AssetAtView
    amount_in: str
    amount_out: str
    share_bps: int


class PathView(_View):
    legs: list[LegView]
    amount_in: str
    amount_out: str
    share_bps: int


class CostsView(_View):
    """Every cost in base units of the output asset."""

    venue_fees: str
    gas: str
    settlement_gas: str
    transfer: str
    total: str
    gas_wei_by_chain: dict[str, str]


class SettlementPlanView(_View):
    source_chain: str
    source_chain_id: int
    destination_chain: str
    destination_chain_id: int
    source_timelock_s: int
    destination_timelock_s: int
    eta_s: int


class ExclusionView(_View):
    venue: str
    market_id: str | None
    reason: str
    detail: str


class QuoteView(_View):
    """A priced route with exact amounts, costs, settlement plan and what was left out."""

    id: str
    sell: AssetAtView
    buy: AssetAtView
    mode: Literal["exact_in", "exact_out"]
    amount: str = Field(description="The requested amount.")
    firm: bool
    slippage_bps: int
    amount_in: str
    amount_out: str = Field(description="What the trader receives, net of every cost.")
    min_amount_out: str
    effective_price: str = Field(description="Output per input, whole-token units.")
    price_impact_bps: str
    best_single_path_out: str
    improvement_bps: str
    paths: list[PathView]
    costs: CostsView
    settlement: SettlementPlanView
    excluded: list[ExclusionView]
    created_ns: int
    expires_ns: int
    snapshot_ns: int
    compute_ns: int
    expired: bool = Field(description="Past its expiry: it can no longer be swapped.")


class TermsView(_View):
    """One HTLC lock: where it lives and its six terms."""

    id: str = Field(description="The contract's swap id for these terms.")
    chain: str
    chain_id: int
    htlc: str
    sender: str
    recipient: str
    token: str
    amount: str
    hashlock: str
    timelock: int = Field(description="Chain timestamp (s) from which a refund is allowed.")


class LockView(_View):
    """What the trader sends on the source chain, exactly."""

    chain: str
    chain_id: int
    htlc: str
    terms: TermsView
    calldata: str = Field(description="0x-hex calldata of lock(...) on the HTLC.")
    value: str = Field(description="Wei sent with the lock (native coin only).")
    approve_token: str | None
    approve_calldata: str | None


class TxView(_View):
    kind: str
    chain: str
    hash: str
    nonce: int
    block: int | None
    status: int | None
    batch_size: int


class HistoryItem(_View):
    ts_ns: int | None
    event: str
    detail: str


class LegExecutionView(_View):
    venue: str
    market_id: str
    location: str
    quoted_in: str
    quoted_out: str
    executed_in: str
    executed_out: str
    slippage_bps: int
    tx_hash: str | None
    order_id: str | None
    error_code: str | None


class SwapView(_View):
    """A swap: where it stands, both locks, its transactions and history."""

    id: str
    version: int
    state: str
    terminal: bool
    quote_id: str | None
    source: TermsView
    destination: TermsView | None
    lock_deadline: int
    source_lock_block: int | None
    reason: str | None
    txs: list[TxView]
    history: list[HistoryItem]
    legs: list[LegExecutionView]
    created_ns: int
    updated_ns: int


class SwapTicketView(_View):
    swap: SwapView
    lock: LockView
    destination: TermsView = Field(description="The resolver's lock the trader will claim.")


class SwapListView(_View):
    swaps: list[SwapView]


_ASSET_VIEWS: dict[AssetAt, AssetAtView] = {}
"""Views of the assets quotes name (few, and frozen: shared by every view)."""


def _asset(a: AssetAt) -> AssetAtView:
    found = _ASSET_VIEWS.get(a)
    if found is None:
        loc = a.location
        found = build(
            AssetAtView, asset=a.asset, location=loc.key, kind=loc.kind.value, chain_id=loc.chain_id
        )
        if len(_ASSET_VIEWS) < 4096:
            _ASSET_VIEWS[a] = found
    return found


def _leg(leg: QuoteLeg) -> LegView:
    return build(
        LegView,
        kind=leg.kind,
        venue=leg.venue,
        market_id=leg.market_id,
        side=None if leg.side is None else leg.side.value,
        location=leg.location.key,
        asset_in=_asset(leg.asset_in),
        asset_out=_asset(leg.asset_out),
        amount_in=str(leg.amount_in),
        amount_out=str(leg.amount_out),
        share_bps=leg.share_bps,
    )


def quote_view(quote: Quote, now_ns: int) -> QuoteView:
    req = quote.request
    costs = quote.costs
    plan = quote.settlement
    return build(
        QuoteView,
        id=quote.id,
        sell=_asset(req.sell),
        buy=_asset(req.buy),
        mode=req.mode.value,
        amount=str(req.amount),
        firm=req.firm,
        slippage_bps=req.slippage_bps,
        amount_in=str(quote.amount_in),
        amount_out=str(quote.amount_out),
        min_amount_out=str(quote.min_amount_out),
        effective_price=str(quote.effective_price),
        price_impact_bps=str(quote.price_impact_bps),
        best_single_path_out=str(quote.best_single_path_out),
        improvement_bps=str(quote.improvement_bps),
        paths=[
            build(
                PathView,
                legs=[_leg(leg) for leg in p.legs],
                amount_in=str(p.amount_in),
                amount_out=str(p.amount_out),
                share_bps=p.share_bps,
            )
            for p in quote.paths
        ],
        costs=build(
            CostsView,
            venue_fees=str(costs.venue_fees),
            gas=str(costs.gas),
            settlement_gas=str(costs.settlement_gas),
            transfer=str(costs.transfer),
            total=str(costs.total),
            gas_wei_by_chain={k: str(v) for k, v in costs.gas_wei_by_chain.items()},
        ),
        settlement=build(SettlementPlanView, **dict(plan)),
        excluded=[
            build(
                ExclusionView,
                venue=e.venue,
                market_id=e.market_id,
                reason=str(e.reason),
                detail=e.detail,
            )
            for e in quote.excluded
        ],
        created_ns=quote.created_ns,
        expires_ns=quote.expires_ns,
        snapshot_ns=quote.snapshot_ns,
        compute_ns=quote.compute_ns,
        expired=quote.expires_ns <= now_ns,
    )


def _asset_dict(a: AssetAt) -> dict[str, Any]:
    loc = a.location
    return {"asset": a.asset, "location": loc.key, "kind": loc.kind.value, "chain_id": loc.chain_id}


def quote_view_tail(quote: Quote) -> bytes:
    """The JSON of ``quote_view(quote, now)`` without the fields in which quotes renewed
    from one route differ (id, times, expired): ``b'{"sell":...}'``.

    Built as plain dicts and encoded by pydantic-core: building the view's models first
    costs twice as much for a quote of many legs. ``tests/api/test_view_tail.py`` checks
    it against the view.
    """
    req = quote.request
    costs = quote.costs
    plan = quote.settlement
    asset = _asset_dict
    view = {
        "sell": asset(req.sell),
        "buy": asset(req.buy),
        "mode": req.mode.value,
        "amount": str(req.amount),
        "firm": req.firm,
        "slippage_bps": req.slippage_bps,
        "amount_in": str(quote.amount_in),
        "amount_out": str(quote.amount_out),
        "min_amount_out": str(quote.min_amount_out),
        "effective_price": str(quote.effective_price),
        "price_impact_bps": str(quote.price_impact_bps),
        "best_single_path_out": str(quote.best_single_path_out),
        "improvement_bps": str(quote.improvement_bps),
        "paths": [
            {
                "legs": [
                    {
                        "kind": leg.kind,
                        "venue": leg.venue,
                        "market_id": leg.market_id,
                        "side": None if leg.side is None else leg.side.value,
                        "location": leg.location.key,
                        "asset_in": asset(leg.asset_in),
                        "asset_out": asset(leg.asset_out),
                        "amount_in": str(leg.amount_in),
                        "amount_out": str(leg.amount_out),
                        "share_bps": leg.share_bps,
                    }
                    for leg in p.legs
                ],
                "amount_in": str(p.amount_in),
                "amount_out": str(p.amount_out),
                "share_bps": p.share_bps,
            }
            for p in quote.paths
        ],
        "costs": {
            "venue_fees": str(costs.venue_fees),
            "gas": str(costs.gas),
            "settlement_gas": str(costs.settlement_gas),
            "transfer": str(costs.transfer),
            "total": str(costs.total),
            "gas_wei_by_chain": {k: str(v) for k, v in costs.gas_wei_by_chain.items()},
        },
        "settlement": dict(plan),
        "excluded": [
            {
                "venue": e.venue,
                "market_id": e.market_id,
                "reason": str(e.reason),
                "detail": e.detail,
            }
            for e in quote.excluded
        ],
        "snapshot_ns": quote.snapshot_ns,
        "compute_ns": quote.compute_ns,
    }
    return to_json(view)


def _json_str(text: str) -> str:
    """``text`` as a JSON string (quote ids are hex: nothing to escape)."""
    return f'"{text}"' if text.isascii() and text.isalnum() else json.dumps(text)


class QuoteViewCache:
    """JSON bodies of quotes that share one memoized route (same ``paths`` object).

    A worker answers repeated requests on one snapshot with copies of one route
    (see :class:`~aggregator.service.QuoteEngine`); their views differ only in
    id and times, so the rest of the view is serialized once per route and each
    body is that JSON with the quote's own fields put in front.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._tails: OrderedDict[int, tuple[object, bytes]] = OrderedDict()

    def body(self, quote: Quote, now_ns: int) -> bytes:
        """``quote_view(quote, now_ns)`` as JSON (field order aside)."""
        key = id(quote.paths)
        found = self._tails.get(key)
        if found is not None and found[0] is quote.paths:
            tail = found[1]
        else:
            tail = quote_view_tail(quote)
            self._tails[key] = (quote.paths, tail)
            while len(self._tails) > self._size:
                self._tails.popitem(last=False)
        expired = "true" if quote.expires_ns <= now_ns else "false"
        own = (
            f'{{"id":{_json_str(quote.id)},"created_ns":{quote.created_ns},'
            f'"expires_ns":{quote.expires_ns},"expired":{expired},'
        )
        return own.encode() + tail[1:]


def terms_view(terms: HtlcTerms) -> TermsView:
    return TermsView.model_construct(
        id=terms.id,
        chain=terms.chain,
        chain_id=terms.chain_id,
        htlc=terms.htlc,
        sender=terms.sender,
        recipient=terms.recipient,
        token=terms.token,
        amount=str(terms.amount),
        hashlock=terms.hashlock,
        timelock=terms.timelock,
    )


def _history(swap: Swap) -> list[HistoryItem]:
    items = [HistoryItem.model_construct(ts_ns=swap.created_ns, event="created", detail="")]
    for tx in swap.txs:
        outcome = (
            "sent" if tx.status is None else {1: "succeeded", 0: "reverted"}.get(tx.status, "sent")
        )
        detail = f"{tx.chain} {tx.hash} block {tx.block}" if tx.block else f"{tx.chain} {tx.hash}"
        items.append(
            HistoryItem.model_construct(
                ts_ns=None, event=f"{tx.kind.value}_{outcome}", detail=detail
            )
        )
    if swap.pending is not None:
        p = swap.pending
        items.append(
            HistoryItem.model_construct(
                ts_ns=None, event=f"{p.kind.value}_pending", detail=f"{p.chain} {p.hash}"
            )
        )
    for note in swap.notes:
        items.append(
            HistoryItem.model_construct(
                ts_ns=None, event=note.reason.value, detail=f"{note.phase}: {note.detail}"
            )
        )
    items.append(
        HistoryItem.model_construct(
            ts_ns=swap.updated_ns, event=swap.phase.value, detail="current state"
        )
    )
    return items


def _leg_record(record: LegRecord) -> LegExecutionView:
    return LegExecutionView.model_construct(
        venue=record.venue,
        market_id=record.market_id,
        location=record.location,
        quoted_in=str(record.quoted_in),
        quoted_out=str(record.quoted_out),
        executed_in=str(record.executed_in),
        executed_out=str(record.executed_out),
        slippage_bps=record.slippage_bps,
        tx_hash=record.tx_hash,
        order_id=record.order_id,
        error_code=record.error_code,
    )


def swap_view(swap: Swap, legs: list[LegRecord] | None = None) -> SwapView:
    txs = list(swap.txs) + ([swap.pending] if swap.pending is not None else [])
    reason = swap.reason
    return SwapView.model_construct(
        id=swap.id,
        version=swap.version,
        state=swap.phase.value,
        terminal=swap.terminal,
        quote_id=swap.quote_id,
        source=terms_view(swap.source),
        destination=None if swap.destination is None else terms_view(swap.destination),
        lock_deadline=swap.lock_deadline,
        source_lock_block=swap.source_lock_block,
        reason=None if reason is None else f"{reason.reason.value}: {reason.detail}",
        txs=[
            TxView.model_construct(
                kind=t.kind.value,
                chain=t.chain,
                hash=t.hash,
                nonce=t.nonce,
                block=t.block,
                status=t.status,
                batch_size=t.batch_size,
            )
            for t in txs
        ],
        history=_history(swap),
        legs=[_leg_record(r) for r in legs or []],
        created_ns=swap.created_ns,
        updated_ns=swap.updated_ns,
    )


def swap_ticket_view(ticket: SwapTicket) -> SwapTicketView:
    lock = ticket.lock
    return SwapTicketView.model_construct(
        swap=swap_view(ticket.swap),
        lock=LockView.model_construct(
            chain=lock.chain,
            chain_id=lock.chain_id,
            htlc=lock.htlc,
            terms=terms_view(lock.terms),
            calldata=lock.calldata,
            value=str(lock.value),
            approve_token=lock.approve_token,
            approve_calldata=lock.approve_calldata,
        ),
        destination=terms_view(ticket.destination),
    )


def dump(model: BaseModel) -> Any:
    """JSON-ready data of a view (for WebSocket messages)."""
    return model.model_dump(mode="json")
