"""Shipper throughput: Redis outbox -> QuestDB client -> strict local ILP endpoint.

Baseline, measured in the same run: the ``questdb`` client's own row encoding
(``Buffer.row`` on prepared rows, no network). The shipper's end-to-end rate
(events read from the outbox, converted, encoded, flushed over HTTP, parsed
strictly by the endpoint, acknowledged and deleted) is printed against it.

The endpoint parses every byte in pure Python, and the shipper waits for each
flush to be answered before acknowledging, so the end-to-end rate is bounded by
that parser; its rate alone is printed too.

Starts its own redis-server and the test endpoint (in a child process, so its
parsing runs on another core) on free loopback ports, and stops both.

    .venv/bin/python bench/bench_shipper.py [--events 20000] [--batch-sizes 250,1000,4000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from questdb import Sender  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from aggregator.journal.config import JournalConfig  # noqa: E402
from aggregator.journal.events import Event  # noqa: E402
from aggregator.journal.outbox import Outbox  # noqa: E402
from aggregator.journal.schema import event_to_row  # noqa: E402
from aggregator.journal.shipper import Shipper  # noqa: E402
from aggregator.journal.writer import encode_rows  # noqa: E402
from tests.journal.helpers import make_events  # noqa: E402
from tests.journal.ilp import parse_ilp  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


def start_redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    return proc


def start_endpoint(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.journal.ilp_endpoint", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def encode_rate(events: list[Event], repeats: int = 5) -> float:
    """Rows per second of the client's Buffer.row on prepared rows (best of ``repeats``)."""
    rows = [event_to_row(e) for e in events]
    best = float("inf")
    with Sender.from_conf("http::addr=127.0.0.1:1;protocol_version=2;auto_flush=off;") as sender:
        for _ in range(repeats):
            buffer = sender.new_buffer()
            start = time.perf_counter()
            refused = encode_rows(buffer, rows)
            best = min(best, time.perf_counter() - start)
            assert not refused
        sender.close(flush=False)
    return len(rows) / best


def endpoint_parse_rate(events: list[Event]) -> float:
    """Rows per second of the test endpoint's strict parser alone (it bounds end to end)."""
    rows = [event_to_row(e) for e in events]
    with Sender.from_conf("http::addr=127.0.0.1:1;protocol_version=2;auto_flush=off;") as sender:
        buffer = sender.new_buffer()
        encode_rows(buffer, rows)
        body = bytes(buffer)
        sender.close(flush=False)
    start = time.perf_counter()
    parsed = parse_ilp(body)
    elapsed = time.perf_counter() - start
    assert len(parsed) == len(rows)
    return len(rows) / elapsed


async def fill_outbox(
    client: Redis, outbox: Outbox, events: list[Event], chunk: int = 200
) -> float:
    start = time.perf_counter()
    for i in range(0, len(events), chunk):
        async with client.pipeline(transaction=True) as pipe:
            await outbox.append_many(pipe, events[i : i + chunk])
            await pipe.execute()
    return time.perf_counter() - start


async def ship_rate(redis_url: str, endpoint_url: str, events: list[Event], batch: int) -> float:
    """Events per second from a filled outbox until every one is flushed and acknowledged."""
    client = Redis.from_url(redis_url)
    await client.flushall()
    config = JournalConfig(
        questdb_http=endpoint_url,
        outbox_key=f"bench:{batch}",
        batch_size=batch,
        block_ms=50,
        outbox_maxlen=len(events) * 2,
    )
    await fill_outbox(client, Outbox(config), events)
    shipper = Shipper(client, config)
    await shipper.ensure_group()
    start = time.perf_counter()
    task = asyncio.create_task(shipper.run())
    while shipper.stats.shipped < len(events):
        if task.done():
            task.result()
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    shipper.stop()
    await task
    await shipper.aclose()
    assert await client.xlen(config.outbox_key) == 0
    await client.aclose()
    return len(events) / elapsed


async def append_rate(redis_url: str, events: list[Event]) -> float:
    client = Redis.from_url(redis_url)
    config = JournalConfig(outbox_key="bench:append", outbox_maxlen=len(events) * 2)
    elapsed = await fill_outbox(client, Outbox(config), events)
    await client.delete(config.outbox_key)
    await client.aclose()
    return len(events) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-sizes", default="250,1000,4000")
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    events = make_events(args.events)

    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    redis_port, endpoint_port = free_port(), free_port()
    redis_proc = start_redis(redis_port, workdir)
    endpoint_proc = start_endpoint(endpoint_port)
    try:
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        endpoint_url = f"http://127.0.0.1:{endpoint_port}"
        baseline = encode_rate(events)
        results: list[tuple[str, float]] = [("questdb Buffer.row encode, no network", baseline)]
        results.append(("test endpoint strict ILP parse only", endpoint_parse_rate(events)))
        results.append(
            ("outbox XADD, MULTI/EXEC of 200", asyncio.run(append_rate(redis_url, events)))
        )
        for batch in batches:
            rate = asyncio.run(ship_rate(redis_url, endpoint_url, events, batch))
            results.append((f"shipper end to end, batch {batch}", rate))
    finally:
        stop(endpoint_proc)
        stop(redis_proc)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{args.events} events of 7 kinds; baseline = client row encoding")
    print(f"{'stage':<42}{'events/s':>12}{'vs baseline':>14}")
    for name, rate in results:
        print(f"{name:<42}{rate:>12,.0f}{rate / baseline:>14.3f}")


if __name__ == "__main__":
    main()
