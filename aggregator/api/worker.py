"""An API worker process: ``python -m aggregator.api.worker`` (started by ``aggregator serve``).

Its settings come from the parent through the environment; it serves until
SIGTERM or SIGINT. It runs on uvloop: the event loop's own work (polling,
callbacks, socket writes) was a large share of each request's time on the
standard loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from aggregator.api.server import run_worker, settings_from_env
from aggregator.errors import AggregatorError

__all__ = ["main"]


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings_from_env(), stop)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        uvloop.run(_main())
    except AggregatorError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
