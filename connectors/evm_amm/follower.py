"""Follows one chain's head: polls the block number and, on each new block, reads
every pool at that block in one batch.

An RPC failure marks the follower failed (the connector reports STALE with the
reason), and it retries with exponential backoff until the node answers again;
nothing outside has to restart it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aggregator.errors import ChainError
from connectors.evm_amm.reader import BlockReader, BlockState

__all__ = ["ChainFollower"]

log = logging.getLogger(__name__)


class ChainFollower:
    """The polling loop and what it last saw."""

    def __init__(
        self,
        reader: BlockReader,
        *,
        poll_s: float,
        backoff_initial_s: float,
        backoff_max_s: float,
        on_block: Callable[[BlockState, int], None],
        prepare: Callable[[], Awaitable[None]],
    ) -> None:
        self._reader = reader
        self._poll_s = poll_s
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._on_block = on_block
        self._prepare = prepare
        self.prepared = False
        self.head: BlockState | None = None
        self.head_recv_ns: int | None = None
        self.head_mono: float | None = None
        """Monotonic time the head last changed."""
        self.error: ChainError | None = None
        self.error_since: float | None = None
        self.failures = 0

    async def run(self) -> None:
        delay = self._backoff_initial
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except ChainError as exc:
                self._failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            except Exception as exc:  # a malformed answer must not end the loop
                log.exception("%s: unexpected failure while following", self._reader.url)
                self._failed(ChainError(f"unexpected {type(exc).__name__}: {exc}"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            if self.error is not None:
                log.info("%s answers again after %d failures", self._reader.url, self.failures)
            self.error = None
            self.error_since = None
            self.failures = 0
            delay = self._backoff_initial
            await asyncio.sleep(self._poll_s)

    async def poll_once(self) -> None:
        """One poll: prepare if needed, then read the new head's state if the head moved."""
        if not self.prepared:
            await self._prepare()
            self.prepared = True
        number = await self._reader.block_number()
        if self.head is not None and number == self.head.number and self.error is None:
            return
        state = await self._reader.read(number)
        if self.head is not None and state.number < self.head.number:
            log.warning(
                "%s head went back from %d to %d (reorg or reset)",
                self._reader.url,
                self.head.number,
                state.number,
            )
        changed = self.head is None or state.number != self.head.number
        recv = time.time_ns()
        self.head = state
        self.head_recv_ns = recv
        if changed or self.head_mono is None:
            self.head_mono = time.monotonic()
        self._on_block(state, recv)

    def _failed(self, exc: ChainError) -> None:
        if self.error is None:
            self.error_since = time.monotonic()
            log.warning("%s failed: [%s] %s", self._reader.url, exc.code, exc.message)
        self.error = exc
        self.failures += 1
