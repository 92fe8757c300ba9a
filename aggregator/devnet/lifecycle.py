"""Bring the devnet up, look at it, take it down.

``up`` runs :data:`DEFAULT_STEPS` in order over one :class:`UpContext`, then
writes the manifest. Adding a part to the devnet is adding a step: an async
function of the context that starts its process with ``ctx.spawn`` and records
what it deployed on the context.

The state dir (default ``.devnet/`` in the repository, or
``$AGGREGATOR_DEVNET_DIR``) holds the manifest, the record of started
processes and their logs. A file lock there keeps two ``up``/``down`` runs from
interleaving.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from aggregator.chain.rpc import RpcCall, rpc_batch
from aggregator.devnet.accounts import DEVNET_MNEMONIC, devnet_accounts
from aggregator.devnet.config import ChainConfig, DevnetConfig
from aggregator.devnet.context import (
    PROCESSES_FILE,
    ChainRuntime,
    Step,
    UpContext,
    read_process_records,
)
from aggregator.devnet.deploy import deploy_chain, set_native_balances
from aggregator.devnet.manifest import (
    ChainDeployment,
    DevnetManifest,
    ProcessRecord,
    load_manifest,
    manifest_path,
    remove_manifest,
    write_manifest,
)
from aggregator.devnet.processes import (
    anvil_binary,
    free_port,
    is_running,
    log_tail,
    stop_process,
)
from aggregator.devnet.venue import start_venue
from aggregator.errors import AggregatorError, DevnetError

__all__ = [
    "DEFAULT_STEPS",
    "STATE_DIR_ENV",
    "chain_heights",
    "default_state_dir",
    "deploy_contracts",
    "down",
    "fund_accounts",
    "running_manifest",
    "start_chains",
    "up",
]

STATE_DIR_ENV: Final = "AGGREGATOR_DEVNET_DIR"

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_LOCK_FILE: Final = ".lock"
_START_ATTEMPTS: Final = 3
_LOCK_TIMEOUT_S: Final = 120.0


def default_state_dir() -> Path:
    """``$AGGREGATOR_DEVNET_DIR`` if set, else ``.devnet/`` in the repository."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override).expanduser() if override else _REPO_ROOT / ".devnet"


# ---------------------------------------------------------------------------
# steps


async def _wait_ready(url: str, chain_id: int, record: ProcessRecord, limit_s: float) -> bool:
    """``True`` once the node answers with the right chain id; ``False`` if it exited."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            (answer,) = await rpc_batch(url, [RpcCall("eth_chainId", [])], request_timeout=1.0)
        except AggregatorError:
            answer = None
        if answer is not None:
            if int(answer, 16) != chain_id:
                raise DevnetError(f"{url} answers for chain {int(answer, 16)}, not {chain_id}")
            return True
        if not is_running(record):
            return False
        if time.monotonic() >= deadline:
            raise DevnetError(
                f"{record.name} did not answer within {limit_s:g} s",
                log=log_tail(record.log),
            )
        await asyncio.sleep(0.02)


async def _start_chain(ctx: UpContext, chain: ChainConfig) -> ChainRuntime:
    binary = str(anvil_binary())
    for _ in range(_START_ATTEMPTS):
        port = free_port()
        argv = [
            binary,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(chain.chain_id),
            "--block-time", str(chain.block_time),
            "--mixed-mining",
            "--mnemonic", DEVNET_MNEMONIC,
        ]  # fmt: skip
        record = ctx.spawn(f"anvil-{chain.key}", argv)
        url = f"http://127.0.0.1:{port}"
        if await _wait_ready(url, chain.chain_id, record, float(ctx.config.startup_timeout_s)):
            return ChainRuntime(
                config=chain, rpc_url=url, ws_url=f"ws://127.0.0.1:{port}", process=record
            )
        # Most likely the port was taken between choosing it and binding it: retry.
    raise DevnetError(f"anvil for chain {chain.key} exited at start", log=log_tail(record.log))


async def start_chains(ctx: UpContext) -> None:
    """Start one anvil per configured chain (mixed mining) and wait until each answers."""
    runtimes = await asyncio.gather(*(_start_chain(ctx, c) for c in ctx.config.chains))
    for runtime in runtimes:
        ctx.chains[runtime.config.key] = runtime


async def deploy_contracts(ctx: UpContext) -> None:
    """Deploy HTLC, tokens and seeded pools on every chain, all chains at once."""

    async def deploy(runtime: ChainRuntime) -> None:
        runtime.contracts = await deploy_chain(
            runtime.config, runtime.rpc_url, ctx.config, ctx.accounts
        )

    await asyncio.gather(*(deploy(r) for r in ctx.chains.values()))


async def fund_accounts(ctx: UpContext) -> None:
    """Give the resolver and the trader their native coin balance on every chain.

    Their tokens are minted by :func:`deploy_contracts`.
    """
    funding = ctx.config.funding
    balances = [
        (ctx.accounts.resolver.address, funding.resolver.native * 10**18),
        (ctx.accounts.trader.address, funding.trader.native * 10**18),
    ]
    await asyncio.gather(*(set_native_balances(r.rpc_url, balances) for r in ctx.chains.values()))


DEFAULT_STEPS: tuple[Step, ...] = (start_chains, deploy_contracts, fund_accounts, start_venue)
"""What ``up`` does, in order."""


# ---------------------------------------------------------------------------
# up / down


@contextmanager
def _state_lock(state_dir: Path, timeout: float = _LOCK_TIMEOUT_S) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DevnetError(
                        "another devnet command holds the state dir", state_dir=str(state_dir)
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def running_manifest(state_dir: Path) -> DevnetManifest | None:
    """The manifest, if one exists and every process it records is still running."""
    if not manifest_path(state_dir).exists():
        return None
    try:
        manifest = load_manifest(state_dir)
    except DevnetError:
        return None
    if all(is_running(p) for p in manifest.processes):
        return manifest
    return None


def _recorded_processes(state_dir: Path) -> list[ProcessRecord]:
    records: dict[tuple[int, int | None], ProcessRecord] = {}
    try:
        for record in load_manifest(state_dir).processes:
            records[(record.pid, record.start_ticks)] = record
    except DevnetError:
        pass
    for record in read_process_records(state_dir):
        records[(record.pid, record.start_ticks)] = record
    return list(records.values())


def _stop_all(records: Sequence[ProcessRecord]) -> list[ProcessRecord]:
    return [r for r in reversed(records) if stop_process(r)]


def _clear(state_dir: Path) -> list[ProcessRecord]:
    stopped = _stop_all(_recorded_processes(state_dir))
    remove_manifest(state_dir)
    (state_dir / PROCESSES_FILE).unlink(missing_ok=True)
    return stopped


def _manifest(ctx: UpContext) -> DevnetManifest:
    chains = []
    for chain in ctx.config.chains:
        runtime = ctx.chains.get(chain.key)
        if runtime is None or runtime.contracts is None:
            raise DevnetError(f"chain {chain.key} was not started and deployed")
        contracts = runtime.contracts
        chains.append(
            ChainDeployment(
                key=chain.key,
                name=chain.name,
                chain_id=chain.chain_id,
                rpc_url=runtime.rpc_url,
                ws_url=runtime.ws_url,
                block_time=chain.block_time,
                confirmations=chain.confirmations,
                price_offset_bps=chain.price_offset_bps,
                pid=runtime.process.pid,
                htlc=contracts.htlc,
                deploy_block=contracts.deploy_block,
                tokens=contracts.tokens,
                pools=contracts.pools,
            )
        )
    return DevnetManifest(
        created_ns=time.time_ns(),
        chains=tuple(chains),
        accounts=ctx.accounts,
        venue=ctx.venue,
        processes=tuple(ctx.processes),
    )


async def up(
    config: DevnetConfig,
    state_dir: Path,
    *,
    steps: Sequence[Step] = DEFAULT_STEPS,
    die_with_parent: bool = False,
) -> DevnetManifest:
    """Start and deploy the devnet, or return the manifest of the one already running.

    A stale state dir (manifest whose processes died, or processes left by a
    failed run) is cleaned up first. If a step fails, every process started so
    far is stopped before the error propagates. ``die_with_parent`` makes the
    processes exit when the calling thread's process dies (for test sessions).
    """
    with _state_lock(state_dir):
        existing = running_manifest(state_dir)
        if existing is not None:
            return existing
        _clear(state_dir)
        ctx = UpContext(
            config=config,
            state_dir=state_dir,
            accounts=devnet_accounts(),
            die_with_parent=die_with_parent,
        )
        try:
            for step in steps:
                await step(ctx)
            manifest = _manifest(ctx)
            write_manifest(state_dir, manifest)
        except BaseException as exc:
            _stop_all(ctx.processes)
            (state_dir / PROCESSES_FILE).unlink(missing_ok=True)
            if isinstance(exc, Exception) and not isinstance(exc, AggregatorError):
                raise DevnetError(f"devnet up failed: {type(exc).__name__}: {exc}") from exc
            raise
        return manifest


def down(state_dir: Path) -> list[ProcessRecord]:
    """Stop exactly the processes ``up`` recorded in this state dir; remove the manifest.

    Returns the records of the processes that were still running.
    """
    if not state_dir.exists():
        return []
    with _state_lock(state_dir):
        return _clear(state_dir)


async def chain_heights(manifest: DevnetManifest) -> dict[str, int | None]:
    """Live ``eth_blockNumber`` of every chain (``None`` where the node does not answer)."""

    async def height(chain: ChainDeployment) -> int | None:
        try:
            (number,) = await rpc_batch(
                chain.rpc_url, [RpcCall("eth_blockNumber", [])], request_timeout=2.0
            )
        except AggregatorError:
            return None
        return int(number, 16)

    results = await asyncio.gather(*(height(c) for c in manifest.chains))
    return {c.key: h for c, h in zip(manifest.chains, results, strict=True)}
