"""The ``aggregator`` command line.

Each part of the service contributes its own sub-commands: a module listed in
``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds parsers whose
``handler`` default is a function ``(argparse.Namespace) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from aggregator.errors import AggregatorError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

COMMAND_MODULES: tuple[str, ...] = (
    "aggregator.devnet.cli",
    "aggregator.journal.cli",
    "aggregator.plugins.cli",
    "aggregator.api.cli",
    "aggregator.client.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Multi-chain liquidity aggregator: quotes, routing and atomic settlement.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except AggregatorError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
