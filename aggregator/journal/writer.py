"""The blocking side of the shipper: rows into QuestDB with the official client.

The ``questdb`` client's :class:`Sender` is synchronous, so every method here
blocks and is meant to run in a worker thread (``asyncio.to_thread``). A lock
keeps one thread at a time on the sender. Each write builds a fresh buffer and
flushes it in one HTTP request; the sender's own retry window is kept small
(config) because the shipper retries with its own backoff. The sender is
created lazily: if the server is down when it would be established (the client
asks the server which protocol version to use), the next write tries again.

A row the client refuses to encode (a name it rejects, an integer out of range)
can never be written; ``write`` leaves it out and returns its index so the
caller can set it aside instead of retrying it forever.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from questdb import QuestDBError, Sender, TimestampNanos

from aggregator.errors import JournalWriteError
from aggregator.journal.config import JournalConfig
from aggregator.journal.schema import Row

__all__ = ["QuestDBWriter", "encode_rows"]


def encode_rows(buffer: Any, rows: Sequence[Row]) -> list[int]:
    """Add rows to a ``questdb`` buffer; returns the indexes of rows it refused.

    A refused row leaves the buffer as it was (the client adds a row whole or
    not at all).
    """
    refused: list[int] = []
    for index, row in enumerate(rows):
        try:
            buffer.row(
                row.table,
                symbols=row.symbols,
                columns=row.columns,
                at=TimestampNanos(row.ts_ns),
            )
        except (QuestDBError, OverflowError, TypeError, ValueError):
            refused.append(index)
    return refused


class QuestDBWriter:
    """Owns one ILP-over-HTTP sender; ``write`` flushes rows or raises JournalWriteError."""

    def __init__(self, config: JournalConfig) -> None:
        self._conf = config.sender_conf()
        self._sender: Sender | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_sender(self) -> Sender:
        if self._sender is None:
            sender = Sender.from_conf(self._conf)
            try:
                sender.establish()  # type: ignore[no-untyped-call]
            except QuestDBError:
                sender.close(flush=False)
                raise
            self._sender = sender
        return self._sender

    def write(self, rows: Sequence[Row]) -> list[int]:
        """Send the rows in one request and return the indexes of rows that cannot be encoded.

        Raises :class:`JournalWriteError` when the flush fails; nothing is kept
        then, and the caller retries the same rows.
        """
        if not rows:
            return []
        with self._lock:
            if self._closed:
                raise JournalWriteError("the QuestDB writer is closed")
            try:
                sender = self._ensure_sender()
                buffer = sender.new_buffer()
                refused = encode_rows(buffer, rows)
                sender.flush(buffer)
            except QuestDBError as exc:
                raise JournalWriteError(
                    "QuestDB flush failed",
                    client_code=exc.code.name,
                    in_doubt=exc.in_doubt,
                    rows=len(rows),
                ) from exc
            return refused

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._sender is not None:
                sender, self._sender = self._sender, None
                try:
                    sender.close(flush=False)
                except QuestDBError:
                    pass
