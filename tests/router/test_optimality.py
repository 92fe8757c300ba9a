"""The router's split against an independent optimum, and against executing its own legs.

Scenarios are seeded random mixes of constant-product pools on three chains and
order books on the venue, with random gas prices, inventories, fees and hop
limits. The reference (tests/router/sim.py) shares no code with the router: it
enumerates paths by depth-first search, executes fills with the models' own
integer formulas on markets rebuilt after each fill, and searches the split
exhaustively on a grid over the simplex, then by pattern search.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aggregator.errors import InsufficientLiquidityError, NoLiquidityError
from aggregator.market.snapshot import MarketSnapshot
from aggregator.models import Quote, QuoteMode, QuotePath
from aggregator.router import Router, RouterConfig
from tests.router.factory import DECIMALS
from tests.router.scenarios import Scenario, at_seeds, scenarios
from tests.router.sim import (
    Execution,
    RefHop,
    RefPath,
    gas_wei,
    maximize,
    split_amount,
    wei_to_output,
)

# Seeds from wider sweeps whose markets are hard to split: two parallel pools on each
# of two hops (four paths spanning three ways of splitting), thin pools shared by paths
# whose order of execution decides what reaches the next hop, an inventory every path
# needs exhausted by the best ones, a lone path whose gas dwarfs its gain (and its twin's),
# inventories drawn to their end by paths that share markets with paths executed before
# them, a pool close to its last unit, a small path whose partner does better alone, a
# lone gas-dear path whose fills on a shared pool hide how well the others split without it,
# a pool shared by two paths drawn so near its end that only a split leaning on the path
# run first fits, a path that stops paying for its gas once a gas-dear one is dropped,
# a path at an inventory's end whose rate, blocked to every path but one, hid gainful moves,
# a gas-dear path whose gas exceeds its share of an exact output, two parallel pools on
# each of two hops whose best split executed in order leaves out a path of negligible gas,
# a gas-dear path dropped as redundant that does better in place of its twin's partner.
HARD_EXACT_IN = (
    7715,
    8354,
    9256,
    12576,
    20904,
    21804,
    22478,
    24528,
    25107,
    25257,
    25800,
    28498,
    29585,
    30064,
    70381,
)
HARD_EXACT_OUT = (10677, 15125, 18737, 40575, 43465, 44529, 46352, 47932, 86717, 87186)
EXACT_IN = scenarios(90, QuoteMode.EXACT_IN) + at_seeds(HARD_EXACT_IN, QuoteMode.EXACT_IN)
EXACT_OUT = scenarios(24, QuoteMode.EXACT_OUT, max_paths=3, first_seed=10_000) + at_seeds(
    HARD_EXACT_OUT, QuoteMode.EXACT_OUT
)
GRID = {1: 1, 2: 400, 3: 60, 4: 24, 5: 12}
CONFIG = RouterConfig()


def _settlement_cost(s: Scenario) -> int:
    units = CONFIG.htlc_lock_gas + CONFIG.htlc_claim_gas
    chains = s.snapshot.chains
    wei: dict[str, int] = {}
    for node in (s.request.sell, s.request.buy):
        key = node.location.key
        wei[key] = wei.get(key, 0) + units * chains[key].gas_price_wei
    out = s.request.buy.asset
    return wei_to_output(s.snapshot, wei, out, DECIMALS[out])


def _gas_cost(snapshot: MarketSnapshot, paths: list[RefPath], out_asset: str) -> int:
    wei: dict[str, int] = {}
    for path in paths:
        for chain, amount in gas_wei(snapshot, path, CONFIG).items():
            wei[chain] = wei.get(chain, 0) + amount
    return wei_to_output(snapshot, wei, out_asset, DECIMALS[out_asset])


def _net_for_split(s: Scenario) -> Callable[[tuple[float, ...]], float | None]:
    out_asset = s.request.buy.asset
    settle = _settlement_cost(s)

    def objective(weights: tuple[float, ...]) -> float | None:
        run = Execution(s.snapshot, s.caps)
        total, used = 0, []
        for path, amount in zip(s.paths, split_amount(s.request.amount, weights), strict=True):
            if amount == 0:
                continue
            legs = run.forward(path, amount)
            if legs is None:
                return None
            total += legs[-1][1]
            used.append(path)
        return float(total - _gas_cost(s.snapshot, used, out_asset) - settle)

    return objective


def _input_for_split(s: Scenario) -> Callable[[tuple[float, ...]], float | None]:
    """Minus the input needed to deliver the request's output with this split of the gross."""
    out_asset = s.request.buy.asset
    settle = _settlement_cost(s)

    def objective(weights: tuple[float, ...]) -> float | None:
        used = [p for p, w in zip(s.paths, weights, strict=True) if w > 0]
        gross = s.request.amount + settle + _gas_cost(s.snapshot, used, out_asset)
        run = Execution(s.snapshot, s.caps)
        spent = 0
        for path, target in zip(s.paths, split_amount(gross, weights), strict=True):
            if target == 0:
                continue
            legs = run.backward(path, target)
            if legs is None:
                return None
            spent += legs[0][0]
        return -float(spent)

    return objective


def _ref_path(path: QuotePath) -> RefPath:
    return tuple(
        RefHop(
            leg.kind,
            (leg.asset_in.asset, leg.asset_in.location.key),
            (leg.asset_out.asset, leg.asset_out.location.key),
            leg.market_id,
            leg.side,
        )
        for leg in path.legs
    )


def _executed_net(s: Scenario, quote: Quote) -> int:
    """Execute the quote's legs with their own inputs, in order; each leg must pay at least
    what the quote says and feed the next; returns what they deliver net of every cost."""
    run = Execution(s.snapshot, s.caps)
    delivered = 0
    for path in quote.paths:
        previous_out = None
        for leg, hop in zip(path.legs, _ref_path(path), strict=True):
            if previous_out is not None:
                assert leg.amount_in <= previous_out
            legs = run.forward((hop,), leg.amount_in)
            assert legs is not None, f"leg {leg} cannot be executed"
            assert legs[0][1] >= leg.amount_out
            previous_out = leg.amount_out
        delivered += path.amount_out
    out_asset = s.request.buy.asset
    used = [_ref_path(p) for p in quote.paths]
    return delivered - _gas_cost(s.snapshot, used, out_asset) - _settlement_cost(s)


def test_scenarios_cover_more_than_500_markets() -> None:
    assert sum(len(s.snapshot.markets) for s in EXACT_IN) >= 500
    assert {len(s.paths) for s in EXACT_IN} >= {2, 3, 4}


@pytest.mark.parametrize("scenario", EXACT_IN, ids=lambda s: f"seed{s.seed}")
def test_exact_in_reaches_the_independent_optimum(scenario: Scenario) -> None:
    s = scenario
    best = maximize(_net_for_split(s), len(s.paths), GRID[len(s.paths)])
    router = Router(RouterConfig(hop_limit=s.hop_limit))
    try:
        quote = router.quote(s.snapshot, s.request)
    except (InsufficientLiquidityError, NoLiquidityError):
        assert best is None or best[0] <= 0, f"the reference fills it: {best}"
        return
    assert best is not None, "the router quotes what the reference cannot fill"
    optimum = best[0]
    assert quote.amount_out >= optimum * (1 - 1e-4), (quote.amount_out, optimum, best[1])
    assert quote.amount_out <= _executed_net(s, quote)
    assert quote.amount_in == s.request.amount
    assert sum(p.amount_in for p in quote.paths) == s.request.amount
    assert quote.amount_out == sum(p.amount_out for p in quote.paths) - (
        quote.costs.gas + quote.costs.settlement_gas
    )


@pytest.mark.parametrize("scenario", EXACT_OUT, ids=lambda s: f"seed{s.seed}")
def test_exact_out_input_is_within_a_basis_point_of_the_optimum(scenario: Scenario) -> None:
    s = scenario
    best = maximize(_input_for_split(s), len(s.paths), GRID[len(s.paths)])
    router = Router(RouterConfig(hop_limit=s.hop_limit))
    try:
        quote = router.quote(s.snapshot, s.request)
    except (InsufficientLiquidityError, NoLiquidityError):
        assert best is None, f"the reference fills it with {-best[0]} in"
        return
    assert best is not None, "the router quotes what the reference cannot fill"
    least_input = -best[0]
    assert quote.amount_in <= least_input * (1 + 1e-4), (quote.amount_in, least_input, best[1])
    assert quote.amount_out == s.request.amount
    assert _executed_net(s, quote) >= s.request.amount
