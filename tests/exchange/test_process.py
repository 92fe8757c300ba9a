"""``python -m aggregator.exchange`` as the devnet runs it: quiet, loopback only, stops on
SIGTERM; the in-process runner refuses other addresses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from aggregator.errors import ConfigError
from aggregator.exchange import load_venue_config, start_venue
from tests.exchange.specs import CONFIG_PATH
from tests.fixtures.processes import free_port
from tests.fixtures.venue import REPO

pytestmark = pytest.mark.timeout(60)


def test_the_command_prints_its_urls_serves_and_exits_cleanly_on_sigterm() -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "aggregator.exchange", "--host", "127.0.0.1",
        "--port", str(port), "--config", str(CONFIG_PATH),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["rest_url"] == f"http://127.0.0.1:{port}"
        assert first["ws_url"] == f"ws://127.0.0.1:{port}" and first["pid"] == proc.pid
        with urllib.request.urlopen(f"{first['rest_url']}/api/v3/depth?symbol=WBTCWETH") as r:
            depth = json.loads(r.read())
        assert depth["bids"] and depth["asks"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out == b"" and err == b""


def test_a_bad_config_exits_with_a_typed_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator.exchange", "--config", "/nonexistent/venue.toml"],
        cwd=REPO,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert b"error [config_error]" in result.stderr


async def test_the_venue_binds_to_loopback_only() -> None:
    config = load_venue_config(CONFIG_PATH, environ={})
    with pytest.raises(ConfigError):
        await start_venue(config, host="0.0.0.0", market_maker=False)
    runner = await start_venue(config, host="127.0.0.1", market_maker=False)
    try:
        assert runner.rest_url.startswith("http://127.0.0.1:") and runner.port > 0
    finally:
        await runner.stop()
