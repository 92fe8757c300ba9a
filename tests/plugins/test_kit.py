"""The conformance kit itself, run by pytest's ``pytester``.

It passes for a good in-memory connector (the example plugin, with the very
test file its authors ship), and for deliberately broken variants it fails
the broken case, naming it by its stable id with a precise message.
"""

from __future__ import annotations

import glob
from pathlib import Path
from textwrap import dedent

import example_connector
import pytest

import aggregator.models
import aggregator.plugins.conformance.suite

# pytester's in-process runs drop modules first imported inside them; importing the kit,
# the model and the example here keeps one copy of their classes across runs.
_KEEP = (aggregator.models, aggregator.plugins.conformance.suite, example_connector)

EXAMPLE_TESTS = (
    Path(__file__).resolve().parents[2]
    / "examples"
    / "example_connector"
    / "tests"
    / "test_conformance.py"
)

PRELUDE = '''
import dataclasses
from decimal import Decimal

from aggregator.models import Asset, AssetRegistry, BookLevel, Side
from aggregator.plugins import (
    Capabilities, Capability, ConnectorContext, Health, HealthStatus, LiquidityUpdate,
)
from aggregator.plugins.conformance import ConnectorConformance, ExecutionProbe
from example_connector import PLUGIN, SyntheticBookConfig

ASSETS = AssetRegistry([Asset(symbol="USDC", decimals=6), Asset(symbol="WETH", decimals=18)])
CONFIG = SyntheticBookConfig.model_validate({
    "markets": [{"base": "WETH", "quote": "USDC", "mid": "3000", "tick_size": "0.01",
                 "level_size": 10**18}],
    "balances": {"USDC": 10**12, "WETH": 10**20},
})


def good():
    ctx = ConnectorContext(registry=ASSETS, instance_name="synthetic", extras={})
    return PLUGIN.factory(CONFIG, ctx)


class Wrapped:
    """Delegates to a good connector; each breakage overrides one thing."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


class Kit(ConnectorConformance):
    stream_window_s = 1.0
    staleness_bound_s = 1.5

    async def make_connector(self):
        return self.breakage(good())

    @staticmethod
    def breakage(connector):
        return connector

    async def stop_source(self, connector):
        connector.venue.pause()

    async def restart_source(self, connector):
        connector.venue.resume()

    def execution_probe(self):
        return ExecutionProbe(market_id="synthetic:WETHUSDC", side=Side.SELL_BASE,
                              amount_in=10**17)

    async def balances(self, connector):
        return await connector.balances()
'''

BREAKAGES = {
    "crossed": (
        "conformance/books-sorted-uncrossed",
        "crossed, best bid",
        """
        def breakage(connector):
            venue = connector.venue
            original = venue._generate

            def crossed(symbol):
                book = original(symbol)
                lift = book.asks[0].price - book.bids[0].price + Decimal("0.01")
                bids = tuple(BookLevel(p + lift, s) for p, s in book.bids)
                return dataclasses.replace(book, bids=bids)

            venue._generate = crossed
            for symbol in venue.symbols:
                venue._books[symbol] = crossed(symbol)
            return connector
        """,
    ),
    "sequence_goes_back": (
        "conformance/sequences-monotonic",
        "sequences must strictly increase",
        """
        class Back(Wrapped):
            async def updates(self):
                async for u in self.inner.updates():
                    yield u
                    older = u.liquidity.model_copy(update={"sequence": u.liquidity.sequence - 1})
                    yield LiquidityUpdate.model_construct(market_id=u.market_id, liquidity=older)

        breakage = Back
        """,
    ),
    "state_diverges": (
        "conformance/updates-reproduce-snapshot",
        "liquidity() differs from fetch_liquidity(): bids[0]",
        """
        class Diverges(Wrapped):
            def liquidity(self, market_id):
                book = self.inner.liquidity(market_id)
                if book is None:
                    return None
                top = BookLevel(book.bids[0].price, book.bids[0].size + 1)
                return book.model_copy(update={"bids": (top, *book.bids[1:])})

        breakage = Diverges
        """,
    ),
    "fetch_raises": (
        "conformance/updates-reproduce-snapshot",
        "raised RuntimeError: the source is gone",
        """
        class Raises(Wrapped):
            async def fetch_liquidity(self, market_id):
                raise RuntimeError("the source is gone")

        breakage = Raises
        """,
    ),
    "never_stale": (
        "conformance/staleness-reported",
        "health stayed healthy for 1.5 s after the source stopped",
        """
        class NeverStale(Wrapped):
            def health(self):
                return self.inner.health().model_copy(
                    update={"status": HealthStatus.HEALTHY, "reason": None}
                )

        breakage = NeverStale
        """,
    ),
    "ignores_minimum": (
        "conformance/execute-refuses-impossible-minimum",
        "execute accepted min_amount_out",
        """
        class Ignores(Wrapped):
            async def execute(self, request):
                return await self.inner.execute(request.model_copy(update={"min_amount_out": 0}))

        breakage = Ignores
        """,
    ),
    "foreign_markets": (
        "conformance/markets-well-formed",
        "has venue 'elsewhere', the connector is 'synthetic'",
        """
        class Foreign(Wrapped):
            def markets(self):
                return [m.model_copy(update={"venue": "elsewhere"}) for m in self.inner.markets()]

        breakage = Foreign
        """,
    ),
    "reasonless_capability": (
        "conformance/capabilities-declared",
        "capability 'amm' is unsupported without a reason",
        """
        class Reasonless(Wrapped):
            def capabilities(self):
                caps = self.inner.capabilities()
                return Capabilities(supported=caps.supported, unsupported={Capability.AMM: " "})

        breakage = Reasonless
        """,
    ),
}


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # in process, the kit's plugin module is already imported, so pytest cannot rewrite it
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *args,
    )


def _kit_module(breakage: str) -> str:
    body = dedent(breakage)
    indented = "\n".join(("    " + line) if line.strip() else line for line in body.splitlines())
    staticmethod = "    breakage = staticmethod(breakage)\n" if "def breakage" in body else ""
    return PRELUDE + "\n\nclass TestBroken(Kit):\n" + indented + "\n" + staticmethod


def test_the_example_connector_passes_every_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_conformance=EXAMPLE_TESTS.read_text())
    result = _run(pytester)
    # nine cases pass, the AMM case skips, plus the file's own test
    result.assert_outcomes(passed=10, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*= connector conformance =*",
            "PASSED   conformance/books-sorted-uncrossed *",
            "SKIPPED  conformance/curves-well-formed *capability 'amm' unsupported: "
            "a synthetic order-book venue has no pools",
            "PASSED   conformance/execute-meets-minimum *",
            "PASSED   conformance/staleness-reported *",
            "PASSED   conformance/updates-reproduce-snapshot *",
        ]
    )


def test_a_crossed_book_fails_exactly_that_case(pytester: pytest.Pytester) -> None:
    case, message, breakage = BREAKAGES["crossed"]
    pytester.makepyfile(test_broken=_kit_module(breakage))
    result = _run(pytester)
    result.assert_outcomes(passed=8, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [f"FAILED   {case} [[]TestBroken[]]  *{glob.escape(message)}*"], consecutive=False
    )
    result.stdout.fnmatch_lines(["FAILED test_broken.py::TestBroken::test_books_sorted_uncrossed*"])


@pytest.mark.parametrize("name", sorted(set(BREAKAGES) - {"crossed"}))
def test_each_breakage_fails_its_case_by_name(pytester: pytest.Pytester, name: str) -> None:
    case, message, breakage = BREAKAGES[name]
    pytester.makepyfile(test_broken=_kit_module(breakage))
    test_name = "test_" + case.removeprefix("conformance/").replace("-", "_")
    result = _run(pytester, "-k", test_name)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"FAILED   {case} [[]TestBroken[]]  *{glob.escape(message)}*"])


def test_a_subclass_without_hooks_skips_their_cases_saying_why(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_bare=PRELUDE
        + dedent(
            """

            class TestBare(ConnectorConformance):
                async def make_connector(self):
                    return good()
            """
        )
    )
    result = _run(pytester, "-k", "staleness or execute")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED  conformance/execute-meets-minimum *no execution_probe()*",
            "SKIPPED  conformance/execute-refuses-impossible-minimum *no execution_probe()*",
            "SKIPPED  conformance/staleness-reported *provides no stop_source() hook*",
        ]
    )
