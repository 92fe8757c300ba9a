"""The trader's secrets, kept on local disk only, readable by the owner only.

One file per swap, ``<state dir>/swaps/<hashlock>.json`` (mode 0600, directory
0700), written before the hashlock is shown to anyone: whatever crashes, the
trader can still claim with the preimage or refund with the terms.
"""

from __future__ import annotations

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

    def _write(self, entry: VaultEntry, *, new: bool) -> None:
        path = self._path(entry.hashlock)
        tmp = path.with_suffix(".tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(entry.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        if new and path.exists():
            tmp.unlink()
            raise ConfigError("a secret with this hashlock exists", path=str(path))
        os.replace(tmp, path)

    def new_secret(self) -> VaultEntry:
        """A fresh 32-byte secret from ``secrets.token_bytes``, stored before it is used."""
        preimage = secrets.token_bytes(32)
        entry = VaultEntry(
            preimage="0x" + preimage.hex(),
            hashlock="0x" + hashlib.sha256(preimage).hexdigest(),
            created_ns=now_ns(),
        )
        self._write(entry, new=True)
        return entry

    def attach(self, hashlock: str, ticket: SwapTicket) -> VaultEntry:
        """Record the service's ticket next to the secret."""
        entry = self.load(hashlock).model_copy(update={"ticket": ticket})
        self._write(entry, new=False)
        return entry

    def load(self, hashlock: str) -> VaultEntry:
        path = self._path(hashlock)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError("no secret for this hashlock", path=str(path)) from exc
        return VaultEntry.model_validate(data)

    def entries(self) -> list[VaultEntry]:
        return [self.load(p.stem) for p in sorted(self.dir.glob("0x*.json"))]
