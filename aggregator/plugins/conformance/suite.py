"""``ConnectorConformance``: the base test class a connector author subclasses.

Subclass it in a test module under a name pytest collects (``Test...``) and
provide :meth:`ConnectorConformance.make_connector`. Optional hooks unlock
more cases: :meth:`~ConnectorConformance.stop_source` and
:meth:`~ConnectorConformance.restart_source` for staleness,
:meth:`~ConnectorConformance.execution_probe` (and
:meth:`~ConnectorConformance.balances`) for execution.

Each case builds a fresh connector, starts it, waits for first data, checks,
and stops it, all inside its own event loop (so the kit needs no async pytest
plugin). A case fails with a message that starts with its stable id; a
capability the connector declares unsupported makes the case SKIP with the
declared reason.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import pytest

from aggregator.models.market import Side
from aggregator.plugins.conformance import bodies, cases
from aggregator.plugins.conformance.bodies import CaseFailed, CaseSkipped
from aggregator.plugins.conformance.cases import Case
from aggregator.plugins.protocol import Capability, Connector, HealthStatus

__all__ = ["ConnectorConformance", "ExecutionProbe"]


@dataclass(frozen=True)
class ExecutionProbe:
    """A small trade the execute cases may send: market, direction, input amount."""

    market_id: str
    side: Side
    amount_in: int


Body = Callable[["ConnectorConformance", Connector], Awaitable[None]]


def _case(case: Case) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn.__doc__ = f"{case.id}: {case.summary}"
        marked: Callable[..., None] = pytest.mark.conformance(case.id)(fn)
        return marked

    return mark


class ConnectorConformance:
    """Connector conformance cases; subclass and implement :meth:`make_connector`."""

    first_data_timeout_s: ClassVar[float] = 15.0
    """How long a started connector may take to serve every market and be HEALTHY."""
    stream_window_s: ClassVar[float] = 3.0
    """How long the update stream is watched."""
    min_updates: ClassVar[int] = 3
    """Updates that must arrive within ``stream_window_s`` (the window ends early once seen)."""
    book_samples: ClassVar[int] = 5
    """Samples of ``liquidity()`` per market in the shape cases, ``sample_interval_s`` apart."""
    sample_interval_s: ClassVar[float] = 0.05
    consistency_attempts: ClassVar[int] = 10
    """Tries per market to catch the connector and the source at the same sequence."""
    catch_up_s: ClassVar[float] = 2.0
    """How long the connector may take to reach a fresh snapshot's sequence."""
    staleness_bound_s: ClassVar[float] = 10.0
    """Health must turn STALE within this after the source stops."""
    recovery_bound_s: ClassVar[float] = 20.0
    """Health must be HEALTHY again within this after the source restarts."""
    execute_tolerance_bps: ClassVar[int] = 100
    """The feasible case asks for at least the expected output minus this."""
    stop_timeout_s: ClassVar[float] = 10.0

    # -- hooks ---------------------------------------------------------------

    async def make_connector(self) -> Connector:
        """A new, unstarted connector (no I/O before ``start``)."""
        raise NotImplementedError("implement make_connector() in the conformance subclass")

    async def stop_source(self, connector: Connector) -> None:
        """Stop the connector's data source (kill the node, pause the feed)."""
        raise NotImplementedError

    async def restart_source(self, connector: Connector) -> None:
        """Bring the source back after :meth:`stop_source`."""
        raise NotImplementedError

    def execution_probe(self) -> ExecutionProbe | None:
        """A small feasible trade for the execute cases; None skips them."""
        return None

    async def balances(self, connector: Connector) -> Mapping[str, int] | None:
        """The executing account's balances by canonical asset; None skips balance checks."""
        return None

    # -- cases ---------------------------------------------------------------

    @_case(cases.CAPABILITIES_DECLARED)
    def test_capabilities_declared(self) -> None:
        self._run(cases.CAPABILITIES_DECLARED, bodies.capabilities, start=False)

    @_case(cases.HEALTHY_AFTER_START)
    def test_healthy_after_start(self) -> None:
        self._run(cases.HEALTHY_AFTER_START, bodies.healthy)

    @_case(cases.MARKETS_WELL_FORMED)
    def test_markets_well_formed(self) -> None:
        self._run(cases.MARKETS_WELL_FORMED, bodies.markets)

    @_case(cases.BOOKS_SORTED_UNCROSSED)
    def test_books_sorted_uncrossed(self) -> None:
        self._run(cases.BOOKS_SORTED_UNCROSSED, bodies.books, needs=(Capability.BOOKS,))

    @_case(cases.CURVES_WELL_FORMED)
    def test_curves_well_formed(self) -> None:
        self._run(cases.CURVES_WELL_FORMED, bodies.curves, needs=(Capability.AMM,))

    @_case(cases.SEQUENCES_MONOTONIC)
    def test_sequences_monotonic(self) -> None:
        self._run(cases.SEQUENCES_MONOTONIC, bodies.sequences, needs=(Capability.STREAM,))

    @_case(cases.UPDATES_REPRODUCE_SNAPSHOT)
    def test_updates_reproduce_snapshot(self) -> None:
        self._run(cases.UPDATES_REPRODUCE_SNAPSHOT, bodies.reproduce)

    @_case(cases.STALENESS_REPORTED)
    def test_staleness_reported(self) -> None:
        self._require_hook("stop_source", cases.STALENESS_REPORTED)
        self._run(cases.STALENESS_REPORTED, bodies.staleness, needs=(Capability.STALENESS,))

    @_case(cases.EXECUTE_REFUSES_IMPOSSIBLE_MINIMUM)
    def test_execute_refuses_impossible_minimum(self) -> None:
        self._run(
            cases.EXECUTE_REFUSES_IMPOSSIBLE_MINIMUM,
            bodies.execute_refused,
            needs=(Capability.EXECUTE,),
        )

    @_case(cases.EXECUTE_MEETS_MINIMUM)
    def test_execute_meets_minimum(self) -> None:
        self._run(cases.EXECUTE_MEETS_MINIMUM, bodies.execute_feasible, needs=(Capability.EXECUTE,))

    # -- runner --------------------------------------------------------------

    def provides_hook(self, name: str) -> bool:
        """Whether the subclass overrides the optional hook ``name``."""
        return getattr(type(self), name) is not getattr(ConnectorConformance, name)

    def _require_hook(self, name: str, case: Case) -> None:
        if not self.provides_hook(name):
            pytest.skip(f"{case.id}: the conformance subclass provides no {name}() hook")

    def _run(
        self,
        case: Case,
        body: Body,
        *,
        needs: tuple[Capability, ...] = (),
        start: bool = True,
    ) -> None:
        try:
            asyncio.run(self._lifecycle(case, body, needs, start))
        except CaseSkipped as skip:
            pytest.skip(f"{case.id}: {skip}")
        except CaseFailed as failure:
            pytest.fail(f"{case.id}: {failure}", pytrace=False)
        except Exception as exc:
            # the connector (or a hook) raised: name the case, keep where it came from
            where = "".join(traceback.format_exception(exc)[-6:]).rstrip()
            pytest.fail(f"{case.id}: raised {type(exc).__name__}: {exc}\n{where}", pytrace=False)

    async def _lifecycle(
        self, case: Case, body: Body, needs: tuple[Capability, ...], start: bool
    ) -> None:
        connector = await self.make_connector()
        caps = connector.capabilities()
        for capability in needs:
            reason = caps.reason(capability)
            if reason is not None:
                raise CaseSkipped(f"capability {capability.value!r} unsupported: {reason}")
        if not start:
            await body(self, connector)
            return
        await connector.start()
        try:
            await self._first_data(connector)
            await body(self, connector)
        finally:
            await asyncio.wait_for(connector.stop(), self.stop_timeout_s)

    async def _first_data(self, connector: Connector) -> None:
        deadline = time.monotonic() + self.first_data_timeout_s
        while True:
            health = connector.health()
            missing = [m.id for m in connector.markets() if connector.liquidity(m.id) is None]
            if health.status is HealthStatus.HEALTHY and not missing and connector.markets():
                return
            if time.monotonic() > deadline:
                raise CaseFailed(
                    f"not ready {self.first_data_timeout_s:g} s after start: health "
                    f"{health.status.value} ({health.reason or 'no reason given'}), "
                    f"markets without liquidity: {missing or 'none'}"
                )
            await asyncio.sleep(0.02)
