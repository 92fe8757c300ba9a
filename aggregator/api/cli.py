"""``aggregator serve | quote | swaps list | swaps show | demo``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from aggregator.api.client import ApiClient
from aggregator.api.demo import DemoOptions, private_redis, run_demo
from aggregator.api.server import serve_forever
from aggregator.api.views import quote_view, swap_view
from aggregator.errors import ValidationError
from aggregator.journal.outbox import Outbox
from aggregator.market.builder import SnapshotBuilder, StaticInventory
from aggregator.models.quote import QuoteMode, QuoteRequest
from aggregator.service.compose import load_foundation, read_chain_holdings
from aggregator.settings import Settings, load_settings
from aggregator.settlement.chain import new_session
from aggregator.settlement.store import SwapStore
from aggregator.settlement.swap import SwapPhase

__all__ = ["register"]

_API_KEY_ENV = "AGGREGATOR_API_KEY"


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the service: market data and API workers")
    _common(serve)
    serve.add_argument("--workers", type=int, default=None, help="API worker processes")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default from settings)")
    serve.set_defaults(handler=_serve)

    quote = subparsers.add_parser(
        "quote", help="quote a swap through the API (--url) or locally against the devnet"
    )
    _common(quote)
    quote.add_argument("--sell", required=True, help="ASSET@CHAIN, e.g. USDC@alpha")
    quote.add_argument("--buy", required=True, help="ASSET@CHAIN, e.g. WETH@beta")
    amount = quote.add_mutually_exclusive_group(required=True)
    amount.add_argument("--amount", help="base units, e.g. 3000000000")
    amount.add_argument("--whole", help="whole tokens, e.g. 3000 (converted to base units)")
    quote.add_argument("--exact-out", action="store_true", help="the amount is the output")
    quote.add_argument("--slippage-bps", type=int, default=50)
    quote.add_argument("--url", default=None, help="API base URL; without it, quote locally")
    quote.add_argument("--json", action="store_true", help="print the quote as JSON")
    quote.set_defaults(handler=_quote)

    swaps = subparsers.add_parser("swaps", help="list or show swaps")
    actions = swaps.add_subparsers(dest="swaps_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="swaps, newest first")
    _common(listing)
    listing.add_argument("--state", choices=[p.value for p in SwapPhase], default=None)
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--url", default=None, help="read through the API instead of Redis")
    listing.set_defaults(handler=_swaps_list)
    show = actions.add_parser("show", help="one swap with its history")
    _common(show)
    show.add_argument("swap_id")
    show.add_argument("--url", default=None, help="read through the API instead of Redis")
    show.set_defaults(handler=_swaps_show)

    demo = subparsers.add_parser(
        "demo", help="devnet + service + cross-chain swaps as a trader, then keep serving"
    )
    _common(demo)
    demo.add_argument("--swaps", type=int, default=3, help="swaps to run (default 3)")
    demo.add_argument("--exit-after-swaps", action="store_true", help="stop after the swaps")
    demo.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    demo.set_defaults(handler=_demo)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="service TOML")
    parser.add_argument("--devnet-dir", type=Path, default=None, help="devnet state dir")


def _settings(args: argparse.Namespace, **sections: Any) -> Settings:
    settings = load_settings(args.config)
    if args.devnet_dir is not None:
        sections.setdefault("devnet", {})["state_dir"] = str(args.devnet_dir)
    return settings.with_overrides(**sections) if sections else settings


def _serve(args: argparse.Namespace) -> int:
    api: dict[str, Any] = {}
    for name in ("workers", "host", "port"):
        if getattr(args, name) is not None:
            api[name] = getattr(args, name)
    settings = _settings(args, api=api) if api else _settings(args)
    return asyncio.run(serve_forever(settings))


def _side(text: str) -> tuple[str, str]:
    asset, sep, location = text.partition("@")
    if not sep or not asset or not location:
        raise ValidationError(f"expected ASSET@CHAIN, got {text!r}")
    return asset, location


def _print_quote(view: dict[str, Any]) -> None:
    print(f"quote {view['id']}  (expires in {(view['expires_ns'] - time.time_ns()) / 1e9:.0f} s)")
    print(f"  sell {view['amount_in']} {view['sell']['asset']}@{view['sell']['location']}")
    print(f"  buy  {view['amount_out']} {view['buy']['asset']}@{view['buy']['location']}")
    print(f"  min  {view['min_amount_out']}   price {view['effective_price']}")
    print(f"  impact {view['price_impact_bps']} bps, vs best single path {view['improvement_bps']}")
    for path in view["paths"]:
        print(f"  path {path['share_bps'] / 100:.2f}%: {path['amount_in']} -> {path['amount_out']}")
        for leg in path["legs"]:
            what = leg["market_id"] or "inventory"
            print(f"    {leg['kind']:<8} {leg['location']:<8} {what}: {leg['amount_in']} -> "
                  f"{leg['amount_out']}")  # fmt: skip
    costs = view["costs"]
    print(f"  costs (output units): fees {costs['venue_fees']} gas {costs['gas']} "
          f"settlement {costs['settlement_gas']} transfer {costs['transfer']}")  # fmt: skip
    for item in view["excluded"]:
        print(f"  left out {item['venue']} {item['market_id'] or ''}: {item['reason']} "
              f"{item['detail']}")  # fmt: skip


async def _quote_local(settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    foundation = load_foundation(settings)
    registry = foundation.registry
    sell = registry.at(request["sell"][0], registry.chain_location(request["sell"][1]))
    buy = registry.at(request["buy"][0], registry.chain_location(request["buy"][1]))
    amount = request["amount"]
    connectors = foundation.build_connectors()
    await asyncio.gather(*(c.start() for c in connectors))
    session = new_session()
    try:
        for _ in range(int(settings.market_data.start_timeout_s / 0.05)):
            if all(c.health().usable for c in connectors):
                break
            await asyncio.sleep(0.05)
        holdings = await read_chain_holdings(foundation, foundation.resolver_address, session)
        snapshot = SnapshotBuilder(connectors, inventory=StaticInventory(holdings)).build()
        quote = foundation.router().quote(
            snapshot,
            QuoteRequest(
                sell=sell,
                buy=buy,
                amount=amount,
                mode=QuoteMode.EXACT_OUT if request["exact_out"] else QuoteMode.EXACT_IN,
                slippage_bps=request["slippage_bps"],
            ),
        )
    finally:
        await session.close()
        await asyncio.gather(*(c.stop() for c in connectors), return_exceptions=True)
    return quote_view(quote, time.time_ns()).model_dump(mode="json")


def _quote(args: argparse.Namespace) -> int:
    settings = _settings(args)
    sell, buy = _side(args.sell), _side(args.buy)
    if args.whole is not None:
        foundation = load_foundation(settings)
        asset = buy[0] if args.exact_out else sell[0]
        amount = int(Decimal(args.whole) * 10 ** foundation.registry.decimals(asset))
    else:
        amount = int(args.amount)
    if args.url is not None:

        async def remote() -> dict[str, Any]:
            async with ApiClient(args.url) as api:
                return await api.quote(
                    sell={"asset": sell[0], "location": sell[1]},
                    buy={"asset": buy[0], "location": buy[1]},
                    amount=str(amount),
                    mode="exact_out" if args.exact_out else "exact_in",
                    slippage_bps=args.slippage_bps,
                )

        view = asyncio.run(remote())
    else:
        request = {
            "sell": sell,
            "buy": buy,
            "amount": amount,
            "exact_out": args.exact_out,
            "slippage_bps": args.slippage_bps,
        }
        view = asyncio.run(_quote_local(settings, request))
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        _print_quote(view)
    return 0


async def _read_swaps(args: argparse.Namespace, swap_id: str | None = None) -> list[dict[str, Any]]:
    if args.url is not None:
        async with ApiClient(args.url, api_key=os.environ.get(_API_KEY_ENV)) as api:
            if swap_id is not None:
                return [await api.get_swap(swap_id)]
            return await api.list_swaps(args.state, args.limit)
    settings = _settings(args)
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    try:
        store = SwapStore(redis, Outbox(settings.journal))
        if swap_id is not None:
            swap = await store.get(swap_id)
            legs = await store.legs(swap.id)
            return [swap_view(swap, legs).model_dump(mode="json")]
        phase = SwapPhase(args.state) if args.state else None
        swaps = await store.list_swaps(phase, args.limit)
        return [swap_view(s).model_dump(mode="json") for s in swaps]
    finally:
        await redis.aclose()


def _swaps_list(args: argparse.Namespace) -> int:
    swaps = asyncio.run(_read_swaps(args))
    if not swaps:
        print("no swaps")
        return 0
    print(f"{'id':<14}{'state':<24}{'pair':<16}{'in':>26}{'out':>26}")
    for s in swaps:
        dest = s["destination"] or {}
        pair = f"{s['source']['chain']}->{dest.get('chain', '?')}"
        print(f"{s['id'][:12]:<14}{s['state']:<24}{pair:<16}{s['source']['amount']:>26}"
              f"{dest.get('amount', '-'):>26}")  # fmt: skip
    return 0


def _swaps_show(args: argparse.Namespace) -> int:
    [swap] = asyncio.run(_read_swaps(args, args.swap_id))
    print(json.dumps(swap, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from aggregator.devnet.lifecycle import default_state_dir

    state_dir = (args.devnet_dir or default_state_dir()).resolve()
    options = DemoOptions(
        state_dir=state_dir,
        swaps=args.swaps,
        exit_after_swaps=args.exit_after_swaps,
        port=args.port,
    )
    settings = load_settings(args.config)
    if os.environ.get("AGGREGATOR_REDIS_URL"):
        return asyncio.run(run_demo(settings, options))
    with private_redis() as url:
        print(f"private redis-server at {url}", flush=True)
        settings = settings.with_overrides(redis={"url": url})
        try:
            return asyncio.run(run_demo(settings, options))
        except KeyboardInterrupt:
            return 130
