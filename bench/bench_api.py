"""Load test of POST /v1/quotes against a trivial JSON endpoint (GET /v1/ping) of the same app.

    .venv/bin/python bench/bench_api.py [--devnet-dir DIR] [--rounds 4] [--seconds 1.5]

Brings up what it needs on loopback (the devnet, unless one is running in
``--devnet-dir``; a private redis-server) and runs ``aggregator serve`` as a
separate process, so the load generator does not share its event loop. For
each concurrency (10 and 64) it alternates the trivial endpoint and quotes for
``--rounds`` rounds of ``--seconds`` each (at most ``--requests`` requests per
round), so that a machine whose speed drifts (a shared VM) slows both alike,
and prints requests/s over all rounds, p50 and p99 latency over all requests,
the quote/trivial throughput ratio, and the ratio's range over the rounds.
The load generator holds one keep-alive connection per concurrent client and
sends prepared HTTP/1.1 requests over it: a general-purpose client costs
several times the trivial endpoint itself, on the same two cores.

The quote requests cycle through 16 distinct requests (4 pairs across chains,
4 amounts each), as clients polling a few pairs do; a worker memoizes routes
per snapshot, and every answer is still a new quote stored in Redis.
Targets: quotes >= 30% of the trivial endpoint's throughput; p99 <= 10 ms at
concurrency 10.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from aggregator.api.demo import devnet, private_redis
from aggregator.api.server import free_port

PAIRS = [
    ({"asset": "USDC", "location": "alpha"}, {"asset": "WETH", "location": "beta"}, 10**6, 3000),
    ({"asset": "WETH", "location": "beta"}, {"asset": "USDC", "location": "gamma"}, 10**18, 1),
    ({"asset": "WBTC", "location": "gamma"}, {"asset": "WETH", "location": "alpha"}, 10**8, 1),
    ({"asset": "USDC", "location": "beta"}, {"asset": "WBTC", "location": "alpha"}, 10**6, 5000),
]
BODIES: list[dict[str, Any]] = [
    {"sell": sell, "buy": buy, "amount": str(unit * whole * k // 4)}
    for sell, buy, unit, whole in PAIRS
    for k in (1, 2, 3, 4)
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))
    return ordered[rank]


class _Connection:
    """One keep-alive HTTP/1.1 connection sending prepared requests and reading whole
    responses (Content-Length bodies): a client far lighter than a general one, so the
    numbers are the server's and not the load generator's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


def _raw_request(host: str, port: int, method: str, path: str, body: Any | None) -> bytes:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += f"Content-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


class Endpoint:
    """Prepared requests for one endpoint, and what the rounds measured."""

    def __init__(self, url: str, method: str, path: str) -> None:
        self.host = urlsplit(url).hostname or "127.0.0.1"
        self.port = urlsplit(url).port or 80
        bodies = BODIES if method == "POST" else [None]
        self.raws = [_raw_request(self.host, self.port, method, path, b) for b in bodies]
        self.name = f"{method} {path}"
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.errors = 0
        self.codes: dict[str, int] = {}
        self.round_rps: list[float] = []

    async def run(self, concurrency: int, total: int, seconds: float, *, warm: int = 0) -> None:
        """One round: ``concurrency`` clients until ``total`` requests or ``seconds``."""
        raws = self.raws
        connections = [await _Connection.open(self.host, self.port) for _ in range(concurrency)]
        try:
            for k in range(warm):  # connections, snapshot, route memo
                await connections[k % concurrency].request(raws[k % len(raws)])
            latencies: list[float] = []
            sent = 0
            deadline = time.monotonic() + seconds

            async def client(conn: _Connection) -> None:
                nonlocal sent
                while sent < total and time.monotonic() < deadline:
                    raw = raws[sent % len(raws)]
                    sent += 1
                    started = time.perf_counter()
                    status, body = await conn.request(raw)
                    latencies.append(time.perf_counter() - started)
                    if status >= 300:
                        self.errors += 1
                        code = f"{status} {body[:60].decode(errors='replace')}"
                        self.codes[code] = self.codes.get(code, 0) + 1

            gc.collect()
            began = time.perf_counter()
            await asyncio.gather(*(client(conn) for conn in connections))
            elapsed = time.perf_counter() - began
        finally:
            for conn in connections:
                conn.close()
        self.latencies += latencies
        self.elapsed += elapsed
        self.round_rps.append(len(latencies) / elapsed)

    def summary(self) -> dict[str, float]:
        for code, count in sorted(self.codes.items(), key=lambda item: -item[1])[:3]:
            print(f"  {self.name}: {count} x {code}")
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "rps": len(self.latencies) / self.elapsed,
            "p50_ms": percentile(self.latencies, 50) * 1e3,
            "p99_ms": percentile(self.latencies, 99) * 1e3,
        }


async def compare(
    url: str, concurrency: int, rounds: int, total: int, seconds: float
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """Trivial endpoint and quotes, alternating for ``rounds`` rounds; the two summaries and
    the throughput ratio of each round."""
    trivial = Endpoint(url, "GET", "/v1/ping")
    quotes = Endpoint(url, "POST", "/v1/quotes")
    for k in range(rounds):
        warm = 50 if k == 0 else 0
        await trivial.run(concurrency, total, seconds, warm=warm)
        await quotes.run(concurrency, total, seconds, warm=warm)
    ratios = [q / t for q, t in zip(quotes.round_rps, trivial.round_rps, strict=True)]
    return trivial.summary(), quotes.summary(), ratios


def start_service(
    devnet_dir: Path, redis_url: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "AGGREGATOR_REDIS_URL": redis_url,
            "AGGREGATOR_API__QUOTE_RATE": '{"rate_per_s": 1000000000, "burst": 1000000000}',
        }
    )
    argv = [sys.executable, "-m", "aggregator.cli", "serve", "--workers", str(workers)]
    argv += ["--port", str(port), "--devnet-dir", str(devnet_dir)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


async def wait_ready(url: str, proc: subprocess.Popen[bytes], limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit("the service exited at start")
            try:
                async with session.get(url + "/v1/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the service did not become healthy in time")


async def bench(args: argparse.Namespace, devnet_dir: Path, redis_url: str) -> None:
    proc, url = start_service(devnet_dir, redis_url, args.workers)
    try:
        await wait_ready(url, proc)
        rows = []
        for concurrency in args.concurrency:
            limits = (args.rounds, args.requests, args.seconds)
            rows.append((concurrency, *await compare(url, concurrency, *limits)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"\nPOST /v1/quotes against GET /v1/ping, {args.workers} API worker(s), loopback, "
        f"{args.rounds} alternating rounds of {args.seconds:g} s"
    )
    header = (
        f"{'endpoint':<16}{'conc':>6}{'requests':>10}{'errors':>8}{'req/s':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for concurrency, trivial, quotes, ratios in rows:
        for name, r in (("GET /v1/ping", trivial), ("POST /v1/quotes", quotes)):
            print(
                f"{name:<16}{concurrency:>6}{int(r['requests']):>10}{int(r['errors']):>8}"
                f"{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            )
        ratio = quotes["rps"] / trivial["rps"]
        spread = f"rounds {min(ratios):.1%}..{max(ratios):.1%}"
        print(f"{'quote/trivial':<16}{concurrency:>6}{'':>10}{'':>8}{ratio:>10.1%}   {spread}")
    ratios = [q["rps"] / t["rps"] for _, t, q, _ in rows]
    ratio_ok = "met" if min(ratios) >= 0.3 else "NOT met"
    print(f"\ntarget quotes >= 30% of trivial: {ratio_ok} (worst {min(ratios):.1%})")
    c10 = next((q for c, _, q, _ in rows if c == 10), None)
    if c10 is not None:
        p99_ok = "met" if c10["p99_ms"] <= 10 else "NOT met"
        print(f"target p99 <= 10 ms at concurrency 10: {p99_ok} ({c10['p99_ms']:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devnet-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per endpoint")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one round")
    parser.add_argument("--requests", type=int, default=50_000, help="cap on one round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    devnet_dir = args.devnet_dir or Path(tempfile.mkdtemp(prefix="bench-api-devnet-"))

    async def run(redis_url: str) -> None:
        async with devnet(devnet_dir.resolve()):
            await bench(args, devnet_dir.resolve(), redis_url)

    with private_redis() as redis_url:
        asyncio.run(run(redis_url))


if __name__ == "__main__":
    main()
