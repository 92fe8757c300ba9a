"""What the steps of ``devnet up`` share while they run.

``up`` runs a sequence of :data:`Step` functions over one :class:`UpContext`.
A step reads what earlier steps produced (chain endpoints, deployments) and
records what it adds; a step that starts a process does it through
:meth:`UpContext.spawn`, so that ``down`` (or a failed ``up``) stops it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aggregator.devnet.config import ChainConfig, DevnetConfig
from aggregator.devnet.deploy import ChainContracts
from aggregator.devnet.manifest import (
    DevnetAccounts,
    ProcessRecord,
    VenueDeployment,
)
from aggregator.devnet.processes import spawn

__all__ = ["PROCESSES_FILE", "ChainRuntime", "Step", "UpContext", "read_process_records"]

PROCESSES_FILE: Final = "processes.json"


@dataclass
class ChainRuntime:
    """One chain as ``up`` builds it: running first, then deployed."""

    config: ChainConfig
    rpc_url: str
    ws_url: str
    process: ProcessRecord
    contracts: ChainContracts | None = None


@dataclass
class UpContext:
    """Mutable state of one ``up`` run; turned into the manifest at the end."""

    config: DevnetConfig
    state_dir: Path
    accounts: DevnetAccounts
    die_with_parent: bool = False
    chains: dict[str, ChainRuntime] = field(default_factory=dict)
    venue: VenueDeployment | None = None
    processes: list[ProcessRecord] = field(default_factory=list)

    def spawn(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None
    ) -> ProcessRecord:
        """Start a detached process logging to ``<state dir>/logs/<name>.log``; record it."""
        record = spawn(
            name,
            argv,
            self.state_dir / "logs" / f"{name}.log",
            die_with_parent=self.die_with_parent,
            env=env,
        )
        self.processes.append(record)
        self._save_processes()
        return record

    def _save_processes(self) -> None:
        data = [p.model_dump(mode="json") for p in self.processes]
        (self.state_dir / PROCESSES_FILE).write_text(json.dumps(data, indent=2) + "\n")


Step = Callable[[UpContext], Awaitable[None]]
"""One stage of ``up``: starts or deploys something and records it in the context."""


def read_process_records(state_dir: Path) -> list[ProcessRecord]:
    """Processes recorded by a (possibly failed) ``up`` in this state dir."""
    path = state_dir / PROCESSES_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [ProcessRecord.model_validate(item) for item in data]
