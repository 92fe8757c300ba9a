"""``aggregator swap``: a trader's swap on the devnet, from the command line.

    aggregator swap run --sell USDC@alpha --buy WETH@beta --amount 2500
    aggregator swap run --quote-id <id>          # a firm quote already in Redis
    aggregator swap refund --hashlock 0x...      # after T_A, from the local secret store
    aggregator swap list

The trader's key comes from ``AGGREGATOR_TRADER_KEY`` or, on the devnet, from
its manifest. Secrets stay in the local state dir (``--state-dir``, mode 0600).
A coordinator must be running (``python -m aggregator.settlement``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from redis.asyncio import Redis

from aggregator.client.quoting import asset_registry, devnet_quote, parse_asset_at
from aggregator.client.trader import TraderClient
from aggregator.client.vault import SecretVault
from aggregator.devnet import default_state_dir
from aggregator.devnet.manifest import DevnetManifest, load_manifest
from aggregator.errors import ConfigError, InvalidAmountError
from aggregator.models import QuoteRequest, to_base_units
from aggregator.settlement.chain import new_session
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.service import SettlementService

__all__ = ["register"]

TRADER_KEY_ENV = "AGGREGATOR_TRADER_KEY"
TRADER_DIR_ENV = "AGGREGATOR_TRADER_DIR"
REDIS_ENV = "AGGREGATOR_REDIS_URL"


def _default_trader_dir() -> Path:
    override = os.environ.get(TRADER_DIR_ENV)
    return Path(override).expanduser() if override else Path.home() / ".aggregator" / "trader"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "swap", help="Swap as a trader: lock, wait for delivery, claim; or refund."
    )
    parser.add_argument("--devnet-dir", type=Path, default=None, help="Devnet state dir.")
    parser.add_argument(
        "--redis",
        default=os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0"),
        help="Redis URL of the settlement service.",
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="Where secrets are kept.")
    parser.add_argument("--config", type=Path, default=None, help="Settlement settings (TOML).")
    sub = parser.add_subparsers(dest="swap_command", metavar="ACTION")
    run = sub.add_parser("run", help="Swap to the end: the output claimed or the input refunded.")
    run.add_argument("--quote-id", default=None, help="A firm quote stored in Redis.")
    run.add_argument("--sell", default=None, help="What to sell, e.g. USDC@alpha.")
    run.add_argument("--buy", default=None, help="What to buy, e.g. WETH@beta.")
    run.add_argument("--amount", default=None, help="Whole units of the sell asset.")
    run.add_argument("--no-claim", action="store_true", help="Lock, then only refund (tests).")
    run.set_defaults(handler=_run)
    refund = sub.add_parser("refund", help="Refund a swap's lock once T_A has passed.")
    refund.add_argument("--hashlock", required=True, help="The swap's hashlock (0x...).")
    refund.set_defaults(handler=_refund)
    listing = sub.add_parser("list", help="Swaps in the local secret store.")
    listing.set_defaults(handler=_list)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


@dataclass
class _Context:
    manifest: DevnetManifest
    config: SettlementConfig
    service: SettlementService
    trader: TraderClient


def _account(manifest: DevnetManifest) -> LocalAccount:
    key = os.environ.get(TRADER_KEY_ENV)
    if key:
        account: LocalAccount = Account.from_key(key)
        return account
    return manifest.accounts.trader.local_account()


@asynccontextmanager
async def _context(args: argparse.Namespace) -> AsyncIterator[_Context]:
    manifest = load_manifest(args.devnet_dir or default_state_dir())
    overrides: dict[str, Any] = {}
    if args.config is not None:
        try:
            overrides = tomllib.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {args.config}: {exc}") from exc
    config = SettlementConfig.from_manifest(manifest, **overrides)
    redis = Redis.from_url(args.redis)
    session = new_session()
    service = SettlementService(config, redis, manifest.accounts.resolver.address, session=session)
    vault = SecretVault(args.state_dir or _default_trader_dir())
    chains = {c.key: c for c in config.chains}
    trader = TraderClient(_account(manifest), chains, vault, session)
    try:
        yield _Context(manifest, config, service, trader)
    finally:
        await session.close()
        await redis.aclose()


async def _run_async(args: argparse.Namespace) -> dict[str, Any]:
    async with _context(args) as ctx:
        if args.quote_id is not None:
            quote = await ctx.service.quotes.get(args.quote_id)
        else:
            if not (args.sell and args.buy and args.amount):
                raise ConfigError("give --quote-id, or --sell, --buy and --amount")
            sell = parse_asset_at(args.sell, ctx.manifest)
            buy = parse_asset_at(args.buy, ctx.manifest)
            decimals = asset_registry(ctx.manifest).decimals(sell.asset)
            try:
                amount = to_base_units(Decimal(args.amount), decimals)
            except (InvalidOperation, ValueError) as exc:
                raise InvalidAmountError(f"bad amount {args.amount!r}: {exc}") from exc
            request = QuoteRequest(sell=sell, buy=buy, amount=amount, firm=True)
            quote = await devnet_quote(
                ctx.manifest, request, dict(ctx.trader.clients), ctx.config.timelocks
            )
            await ctx.service.quotes.put(quote)
        result = await ctx.trader.swap(quote, ctx.service, claim=not args.no_claim)
        return {
            "swap_id": result.ticket.swap.id,
            "outcome": result.outcome.value,
            "reason": result.reason,
            "sell": str(quote.request.sell),
            "buy": str(quote.request.buy),
            "amount_in": str(quote.amount_in),
            "amount_out": str(quote.amount_out),
        }


async def _refund_async(args: argparse.Namespace) -> dict[str, Any]:
    async with _context(args) as ctx:
        entry = ctx.trader.vault.load(args.hashlock)
        if entry.ticket is None:
            raise ConfigError("this secret never got a swap: nothing was locked")
        state = await ctx.trader.refund(entry.ticket)
        return {"swap_id": entry.ticket.swap.id, "source_state": state.name.lower()}


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _run(args: argparse.Namespace) -> int:
    _print(asyncio.run(_run_async(args)))
    return 0


def _refund(args: argparse.Namespace) -> int:
    _print(asyncio.run(_refund_async(args)))
    return 0


def _list(args: argparse.Namespace) -> int:
    vault = SecretVault(args.state_dir or _default_trader_dir())
    rows = []
    for entry in vault.entries():
        ticket = entry.ticket
        rows.append(
            {
                "hashlock": entry.hashlock,
                "swap_id": ticket.swap.id if ticket else None,
                "pair": ticket.swap.chain_pair if ticket else None,
                "source_timelock": ticket.lock.terms.timelock if ticket else None,
            }
        )
    _print(rows)
    return 0
