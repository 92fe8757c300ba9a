"""The trader's secrets, kept on local disk only, readable by the owner only.

One file per swap, ``<state dir>/swaps/<hashlock>.json`` (mode 0600, directory
0700), and beside it ``<hashlock>.ticket.json`` once the service answered.

The secret is the one thing nothing else can give back, so it is flushed to
disk (file and directory) before anything is locked on chain:
:meth:`SecretVault.new_secret` returns the pending flush, which the trader
awaits right before its lock, so the disk write overlaps the service call. The
ticket is a convenience: every term of a lock is also in its ``Locked`` event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from aggregator.errors import ConfigError
from aggregator.models.units import now_ns
from aggregator.settlement.service import SwapTicket

__all__ = ["SecretVault", "VaultEntry"]


class VaultEntry(BaseModel):
    """A swap's secret and, once known, the ticket the service gave."""

    model_config = ConfigDict(frozen=True)

    preimage: str
    hashlock: str
    created_ns: int
    ticket: SwapTicket | None = None


class SecretVault:
    """Secrets of one trader (see the module docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "swaps"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)

    def _path(self, hashlock: str) -> Path:
        return self.dir / f"{hashlock}.json"

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def new_secret(self) -> tuple[VaultEntry, asyncio.Future[None]]:
        """A fresh 32-byte secret from ``secrets.token_bytes``, written at once.

        Returns the entry and the flush to disk running in a thread: await it
        before locking anything with this hashlock.
        """
        preimage = secrets.token_bytes(32)
        entry = VaultEntry(
            preimage="0x" + preimage.hex(),
            hashlock="0x" + hashlib.sha256(preimage).hexdigest(),
            created_ns=now_ns(),
        )
        path = self._path(entry.hashlock)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError("a secret with this hashlock exists", path=str(path)) from None
        os.write(fd, entry.model_dump_json().encode())

        def flush() -> None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._sync_dir()

        return entry, asyncio.ensure_future(asyncio.to_thread(flush))

    def _ticket_path(self, hashlock: str) -> Path:
        return self.dir / f"{hashlock}.ticket.json"

    def attach(self, hashlock: str, ticket: SwapTicket) -> None:
        """Record the service's ticket beside the secret (the secret file is never rewritten)."""
        path = self._ticket_path(hashlock)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(ticket.model_dump_json())
        os.replace(tmp, path)

    def load(self, hashlock: str) -> VaultEntry:
        path = self._path(hashlock)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError("no secret for this hashlock", path=str(path)) from exc
        entry = VaultEntry.model_validate(data)
        ticket_path = self._ticket_path(hashlock)
        if ticket_path.exists():
            ticket = SwapTicket.model_validate_json(ticket_path.read_bytes())
            entry = entry.model_copy(update={"ticket": ticket})
        return entry

    def entries(self) -> list[VaultEntry]:
        hashlocks = sorted(p.name.split(".")[0] for p in self.dir.glob("0x*.json"))
        return [self.load(h) for h in dict.fromkeys(hashlocks)]
