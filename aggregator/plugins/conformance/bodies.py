"""The bodies of the conformance cases, run by :class:`ConnectorConformance`.

Each body gets the test-class instance (for its settings and hooks) and a
started connector that already serves every market. It raises
:class:`CaseFailed` with a precise description, or :class:`CaseSkipped`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from aggregator.errors import AggregatorError
from aggregator.models.liquidity import AmmCurve, Liquidity, OrderBook
from aggregator.models.market import Market, MarketKind
from aggregator.models.units import BPS
from aggregator.plugins.conformance.checks import (
    check_capabilities,
    check_markets,
    check_sequences,
    compare_liquidity,
    liquidity_problems,
)
from aggregator.plugins.protocol import (
    Capability,
    Connector,
    ExecutionRequest,
    ExecutionResult,
    HealthStatus,
    LiquidityUpdate,
)

if TYPE_CHECKING:
    from aggregator.plugins.conformance.suite import ConnectorConformance, ExecutionProbe

__all__ = [
    "CaseFailed",
    "CaseSkipped",
    "books",
    "capabilities",
    "curves",
    "execute_feasible",
    "execute_refused",
    "fail_on",
    "healthy",
    "markets",
    "reproduce",
    "sequences",
    "staleness",
]


class CaseFailed(Exception):
    """The connector broke the case; the message says exactly how."""


class CaseSkipped(Exception):
    """The case does not apply; the message says why."""


def fail_on(problems: list[str], limit: int = 8) -> None:
    if problems:
        more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
        raise CaseFailed("; ".join(problems[:limit]) + more)


# -- bodies --------------------------------------------------------------


async def capabilities(kit: ConnectorConformance, connector: Connector) -> None:
    fail_on(check_capabilities(connector.capabilities()))


async def healthy(kit: ConnectorConformance, connector: Connector) -> None:
    health = connector.health()
    problems = []
    if health.connector != connector.name:
        problems.append(f"health names {health.connector!r}, the connector is {connector.name!r}")
    if health.last_sequence is None or health.last_update_ns is None:
        problems.append("a HEALTHY connector reports no last_sequence or last_update_ns")
    fail_on(problems)


async def markets(kit: ConnectorConformance, connector: Connector) -> None:
    markets = connector.markets()
    problems = check_markets(connector.name, markets, connector.capabilities())
    for m in markets:
        liq = connector.liquidity(m.id)
        want = OrderBook if m.kind is MarketKind.BOOK else AmmCurve
        if liq is not None and not isinstance(liq, want):
            problems.append(
                f"market {m.id!r} is of kind {m.kind.value} but serves a {type(liq).__name__}"
            )
    fail_on(problems)


async def sample_shapes(kit: ConnectorConformance, connector: Connector, kind: MarketKind) -> None:
    markets = [m for m in connector.markets() if m.kind is kind]
    if not markets:
        raise CaseSkipped(f"the connector serves no {kind.value} markets")
    by_id = {m.id: m for m in markets}
    seen: list[LiquidityUpdate] = []
    collector = collect(connector, seen)
    problems: list[str] = []
    try:
        for _ in range(kit.book_samples):
            for m in markets:
                liq = connector.liquidity(m.id)
                if liq is None:
                    problems.append(f"market {m.id!r} lost its liquidity after start")
                else:
                    problems += liquidity_problems(m, liq)
            await asyncio.sleep(kit.sample_interval_s)
    finally:
        await cancel(collector)
    for u in seen:
        if u.market_id in by_id:
            problems += [
                f"in the update stream, {p}"
                for p in liquidity_problems(by_id[u.market_id], u.liquidity)
            ]
    fail_on(list(dict.fromkeys(problems)))


async def books(kit: ConnectorConformance, connector: Connector) -> None:
    await sample_shapes(kit, connector, MarketKind.BOOK)


async def curves(kit: ConnectorConformance, connector: Connector) -> None:
    await sample_shapes(kit, connector, MarketKind.AMM)


def collect(
    connector: Connector,
    into: list[LiquidityUpdate],
    enough: tuple[int, asyncio.Event] | None = None,
) -> asyncio.Task[None] | None:
    """Append every streamed update to ``into``; set the event once ``enough`` arrived."""
    if Capability.STREAM not in connector.capabilities().supported:
        return None

    async def run() -> None:
        async for update in connector.updates():
            into.append(update)
            if enough is not None and len(into) >= enough[0]:
                enough[1].set()

    return asyncio.create_task(run())


async def cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    if task.done():
        task.result()
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def sequences(kit: ConnectorConformance, connector: Connector) -> None:
    seen: list[LiquidityUpdate] = []
    done = asyncio.Event()
    collector = collect(connector, seen, (max(kit.min_updates, 1) * 4, done))
    try:
        await asyncio.wait_for(done.wait(), kit.stream_window_s)
    except TimeoutError:
        pass
    finally:
        await cancel(collector)
    if len(seen) < kit.min_updates:
        raise CaseFailed(
            f"only {len(seen)} updates in {kit.stream_window_s:g} s; "
            f"expected at least {kit.min_updates}"
        )
    fail_on(check_sequences(seen, (m.id for m in connector.markets())))


async def reproduce(kit: ConnectorConformance, connector: Connector) -> None:
    streamed: list[LiquidityUpdate] = []
    collector = collect(connector, streamed)
    try:
        for market in connector.markets():
            await reproduce_market(kit, connector, market, streamed)
    finally:
        await cancel(collector)


async def reproduce_market(
    kit: ConnectorConformance, connector: Connector, market: Market, streamed: list[LiquidityUpdate]
) -> None:
    local: dict[int, Liquidity] = {}
    from_stream: dict[int, Liquidity] = {}
    consumed = 0

    def record() -> None:
        nonlocal consumed
        liq = connector.liquidity(market.id)
        if liq is not None:
            local.setdefault(liq.sequence, liq)
        for u in streamed[consumed:]:
            if u.market_id == market.id:
                from_stream[u.liquidity.sequence] = u.liquidity
        consumed = len(streamed)

    last = "no attempt"
    for _attempt in range(kit.consistency_attempts):
        record()
        fresh = await connector.fetch_liquidity(market.id)
        record()
        deadline = time.monotonic() + kit.catch_up_s
        while fresh.sequence not in local and fresh.sequence not in from_stream:
            newest = max(local, default=-1)
            if newest > fresh.sequence or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.005)
            record()
        matched = False
        for label, history in (("liquidity()", local), ("the update stream", from_stream)):
            ours = history.get(fresh.sequence)
            if ours is None:
                continue
            matched = True
            diff = compare_liquidity(ours, fresh)
            if diff:
                raise CaseFailed(
                    f"market {market.id!r} at sequence {fresh.sequence}: {label} differs "
                    f"from fetch_liquidity(): " + "; ".join(diff)
                )
        if matched:
            return
        last = f"fresh snapshot at {fresh.sequence}, connector at {sorted(local)[-3:] or 'nothing'}"
    raise CaseFailed(
        f"market {market.id!r}: never caught the connector and the source at the same "
        f"sequence in {kit.consistency_attempts} attempts ({last})"
    )


async def staleness(kit: ConnectorConformance, connector: Connector) -> None:
    restart = kit.provides_hook("restart_source")
    await kit.stop_source(connector)
    try:
        status = await wait_status(connector, HealthStatus.STALE, kit.staleness_bound_s)
        if status is not HealthStatus.STALE:
            raise CaseFailed(
                f"health stayed {status.value} for {kit.staleness_bound_s:g} s after the "
                "source stopped; expected stale"
            )
    finally:
        if restart:
            await kit.restart_source(connector)
    if restart:
        status = await wait_status(connector, HealthStatus.HEALTHY, kit.recovery_bound_s)
        if status is not HealthStatus.HEALTHY:
            raise CaseFailed(
                f"health was {status.value} {kit.recovery_bound_s:g} s after the source "
                "restarted; expected healthy again without restarting the connector"
            )


async def wait_status(connector: Connector, want: HealthStatus, bound: float) -> HealthStatus:
    deadline = time.monotonic() + bound
    while True:
        status = connector.health().status
        if status is want or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


def pick_probe(
    kit: ConnectorConformance, connector: Connector
) -> tuple[ExecutionProbe, Market, int]:
    probe = kit.execution_probe()
    if probe is None:
        raise CaseSkipped("the conformance subclass gives no execution_probe()")
    market = next((m for m in connector.markets() if m.id == probe.market_id), None)
    if market is None:
        raise CaseFailed(f"the execution probe's market {probe.market_id!r} is not served")
    liq = connector.liquidity(market.id)
    assert liq is not None
    expected = liq.amount_out(probe.amount_in, probe.side)
    if expected <= 0:
        raise CaseFailed(
            f"the probe's {probe.amount_in} in on {market.id!r} ({probe.side.value}) would "
            "yield nothing per the connector's own liquidity"
        )
    return probe, market, expected


async def read_balances(
    kit: ConnectorConformance, connector: Connector, market: Market
) -> dict[str, int] | None:
    got = await kit.balances(connector)
    if got is None:
        return None
    return {a: int(got.get(a, 0)) for a in (market.base.asset, market.quote.asset)}


def request(probe: ExecutionProbe, min_out: int) -> ExecutionRequest:
    return ExecutionRequest(
        market_id=probe.market_id,
        side=probe.side,
        amount_in=probe.amount_in,
        min_amount_out=min_out,
        client_id=f"conformance-{uuid.uuid4().hex[:16]}",
    )


async def execute_refused(kit: ConnectorConformance, connector: Connector) -> None:
    probe, market, expected = pick_probe(kit, connector)
    before = await read_balances(kit, connector, market)
    impossible = expected * 2 + 10
    try:
        result: Any = await connector.execute(request(probe, impossible))
    except AggregatorError:
        result = None
    except Exception as exc:
        raise CaseFailed(
            f"execute with min_amount_out {impossible} (expected output {expected}) raised "
            f"untyped {type(exc).__name__}: {exc}; raise an aggregator.errors type"
        ) from exc
    if result is not None:
        raise CaseFailed(
            f"execute accepted min_amount_out {impossible} when about {expected} was "
            f"available and returned amount_out {getattr(result, 'amount_out', result)}"
        )
    after = await read_balances(kit, connector, market)
    if before is not None and after != before:
        raise CaseFailed(f"a refused execution moved balances: {before} -> {after}")


async def execute_feasible(kit: ConnectorConformance, connector: Connector) -> None:
    probe, market, expected = pick_probe(kit, connector)
    before = await read_balances(kit, connector, market)
    minimum = expected * (BPS - kit.execute_tolerance_bps) // BPS
    try:
        result = await connector.execute(request(probe, minimum))
    except AggregatorError as exc:
        raise CaseFailed(
            f"execute of {probe.amount_in} on {market.id!r} ({probe.side.value}) with "
            f"min_amount_out {minimum} (expected {expected}) failed: [{exc.code}] {exc.message}"
        ) from exc
    fail_on(result_problems(probe, market, minimum, result))
    after = await read_balances(kit, connector, market)
    if before is not None and after is not None:
        asset_in = market.asset_in(probe.side).asset
        asset_out = market.asset_out(probe.side).asset
        spent = before[asset_in] - after[asset_in]
        got = after[asset_out] - before[asset_out]
        if spent != result.amount_in or got != result.amount_out:
            raise CaseFailed(
                f"balances moved by -{spent} {asset_in} / +{got} {asset_out} but the result "
                f"says {result.amount_in} in / {result.amount_out} out"
            )


def result_problems(
    probe: ExecutionProbe, market: Market, minimum: int, result: ExecutionResult
) -> list[str]:
    problems = []
    if result.amount_out < minimum:
        problems.append(f"amount_out {result.amount_out} is below min_amount_out {minimum}")
    if not 0 < result.amount_in <= probe.amount_in:
        problems.append(f"amount_in {result.amount_in} is not within (0, {probe.amount_in}]")
    if result.market_id != market.id or result.side is not probe.side:
        problems.append(
            f"the result is for {result.market_id!r} {result.side.value}, "
            f"not {market.id!r} {probe.side.value}"
        )
    return problems
