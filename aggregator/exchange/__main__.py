"""``python -m aggregator.exchange``: run the devnet exchange until SIGTERM or SIGINT.

Prints one JSON line with its URLs once it is listening, then nothing but warnings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aggregator.errors import AggregatorError
from aggregator.exchange.config import load_accounts, load_venue_config
from aggregator.exchange.runner import start_venue

__all__ = ["DEFAULT_CONFIG", "main", "parse_args"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "venue.toml"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aggregator.exchange",
        description="The devnet exchange: matching engine, Binance-Spot-shaped REST/WebSocket "
        "server and market maker.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="venue TOML (config/venue.toml)"
    )
    parser.add_argument(
        "--accounts", type=Path, default=None, help="JSON list of accounts with keys and balances"
    )
    parser.add_argument(
        "--no-market-maker", action="store_true", help="do not run the market maker"
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (WARNING)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = load_venue_config(args.config)
    accounts = load_accounts(args.accounts) if args.accounts is not None else []
    runner = await start_venue(
        config,
        accounts,
        host=args.host,
        port=args.port,
        market_maker=False if args.no_market_maker else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(
        json.dumps({"rest_url": runner.rest_url, "ws_url": runner.ws_url, "pid": os.getpid()}),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await runner.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except AggregatorError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
