"""Committed contract artifacts are fresh and reproducible from the sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.chain.bindings import (
    CONTRACT_NAMES,
    artifacts_dir,
    current_source_hash,
    load_artifact,
)

REPO = Path(__file__).resolve().parents[2]
COMPILE = REPO / "scripts" / "compile_contracts.py"
RECOMPILE_HINT = ".venv/bin/python scripts/compile_contracts.py"


def test_artifact_files_are_exactly_the_known_contracts() -> None:
    on_disk = sorted(p.stem for p in artifacts_dir().glob("*.json"))
    assert on_disk == sorted(CONTRACT_NAMES), (
        f"contracts/artifacts holds {on_disk}, expected {sorted(CONTRACT_NAMES)}; "
        f"run `{RECOMPILE_HINT}` and update CONTRACT_NAMES"
    )


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_source_hash_matches_current_sources(name: str) -> None:
    expected = current_source_hash()
    artifact = load_artifact(name)
    assert artifact.source_hash == expected, (
        f"artifact {name}.json is stale: it was compiled from sources with hash "
        f"{artifact.source_hash}, contracts/src now hashes to {expected}; "
        f"recompile with `{RECOMPILE_HINT}` and commit contracts/artifacts"
    )


def test_recompiling_reproduces_committed_abi_and_bytecode(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(COMPILE), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    fresh_names = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert fresh_names == sorted(CONTRACT_NAMES)
    for name in CONTRACT_NAMES:
        fresh = json.loads((tmp_path / f"{name}.json").read_text())
        committed = json.loads((artifacts_dir() / f"{name}.json").read_text())
        for key in ("abi", "bytecode", "deployedBytecode", "compiler", "sourceHash"):
            assert fresh[key] == committed[key], (
                f"{name}.json field {key} differs from a fresh compile; run `{RECOMPILE_HINT}`"
            )
