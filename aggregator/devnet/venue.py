"""The ``up`` step that starts the off-chain venue next to the chains.

The venue runs as ``python -m aggregator.exchange`` on a free loopback port,
with an accounts file holding the resolver's venue account (a fresh random API
key and secret each time) and the market maker from the venue config. The
process prints one JSON line with its URLs once it listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from aggregator.devnet.context import UpContext
from aggregator.devnet.manifest import VenueDeployment
from aggregator.devnet.processes import log_tail
from aggregator.errors import DevnetError

__all__ = ["start_venue"]

_REPO = Path(__file__).resolve().parents[2]


async def start_venue(ctx: UpContext) -> None:
    """Start the venue with a funded resolver account; record its URLs and credentials."""
    venue = ctx.config.venue
    if not venue.enabled:
        return
    api_key, api_secret = secrets.token_hex(32), secrets.token_hex(32)
    accounts = [
        {
            "name": "resolver",
            "api_key": api_key,
            "api_secret": api_secret,
            "balances": dict(venue.resolver_balances),
        }
    ]
    accounts_file = ctx.state_dir / "venue-accounts.json"
    accounts_file.write_text(json.dumps(accounts, indent=2) + "\n")
    os.chmod(accounts_file, 0o600)
    config_path = Path(venue.config)
    if not config_path.is_absolute():
        config_path = _REPO / config_path
    record = ctx.spawn(
        "venue",
        [
            sys.executable, "-m", "aggregator.exchange",
            "--host", "127.0.0.1", "--port", "0",
            "--config", str(config_path),
            "--accounts", str(accounts_file),
        ],
    )  # fmt: skip
    log = Path(record.log)
    deadline = time.monotonic() + float(ctx.config.startup_timeout_s)
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(log.read_text, errors="replace")
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    info = json.loads(line)
                except ValueError:
                    continue
                ctx.venue = VenueDeployment(
                    rest_url=info["rest_url"],
                    ws_url=info["ws_url"],
                    pid=record.pid,
                    api_key=api_key,
                    api_secret=SecretStr(api_secret),
                )
                return
        await asyncio.sleep(0.05)
    raise DevnetError("the venue did not start", log=log_tail(record.log))
