"""Compile contracts/src with the pinned solcjs into contracts/artifacts/<Name>.json.

Usage: .venv/bin/python scripts/compile_contracts.py [--out-dir DIR]

Runs ``node node_modules/solc/solc.js --standard-json`` with ``contracts/src`` as
base path and ``node_modules`` as include path (for ``@openzeppelin/contracts``),
optimizer on. Every deployable contract defined under ``contracts/src`` gets one
JSON file: ``{contractName, abi, bytecode, deployedBytecode, compiler, sourceHash}``.
``sourceHash`` is computed by ``aggregator.chain.bindings.source_hash`` so the
artifact tests can tell when a source changed without recompiling.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aggregator.chain.bindings import pinned_compiler_version, source_hash  # noqa: E402
from aggregator.errors import AggregatorError  # noqa: E402

SRC = REPO / "contracts" / "src"
NODE_MODULES = REPO / "node_modules"
SOLC_JS = NODE_MODULES / "solc" / "solc.js"
DEFAULT_OUT = REPO / "contracts" / "artifacts"

#: Compiler settings shared with contracts/foundry.toml (keep them in step).
OPTIMIZER_RUNS = 200
EVM_VERSION = "cancun"


class CompileError(RuntimeError):
    """solcjs failed or reported errors."""


def standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def run_solcjs(request: dict[str, Any]) -> dict[str, Any]:
    """Run solcjs in standard-JSON mode; its output goes to a file, then is parsed.

    solcjs prints informational lines starting with ``>>>`` before the JSON document;
    they are dropped.
    """
    with tempfile.TemporaryDirectory(prefix="solcjs-") as tmp:
        in_path = Path(tmp) / "input.json"
        out_path = Path(tmp) / "output.json"
        in_path.write_text(json.dumps(request), encoding="utf-8")
        with in_path.open("rb") as stdin, out_path.open("wb") as stdout:
            proc = subprocess.run(
                [
                    "node",
                    str(SOLC_JS),
                    "--standard-json",
                    "--base-path",
                    str(SRC),
                    "--include-path",
                    str(NODE_MODULES),
                ],
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                check=False,
            )
        text = out_path.read_text(encoding="utf-8")
    if proc.returncode != 0:
        raise CompileError(f"solcjs exited with {proc.returncode}: {proc.stderr.decode()}")
    body = "\n".join(line for line in text.splitlines() if not line.startswith(">>>"))
    try:
        output: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise CompileError(f"solcjs printed no JSON: {text[:500]}") from exc
    return output


def solc_version() -> str:
    proc = subprocess.run(
        ["node", str(SOLC_JS), "--version"], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip().splitlines()[-1]


def compile_sources(out_dir: Path) -> list[Path]:
    """Compile every source and write the artifacts; returns the files written."""
    pinned = pinned_compiler_version()
    version = solc_version()
    if not version.startswith(pinned + "+"):
        raise CompileError(f"node_modules has solc {version}, package.json pins {pinned}")
    digest = source_hash(SRC, pinned)
    sources = {
        path.relative_to(SRC).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(SRC.rglob("*.sol"))
    }
    output = run_solcjs(standard_input(sources))

    problems = output.get("errors", [])
    for problem in problems:
        if problem.get("severity") != "error":
            print(problem.get("formattedMessage", problem.get("message")), file=sys.stderr)
    errors = [p for p in problems if p.get("severity") == "error"]
    if errors:
        detail = "\n".join(str(p.get("formattedMessage", p.get("message"))) for p in errors)
        raise CompileError(f"compilation failed:\n{detail}")

    artifacts: dict[str, dict[str, Any]] = {}
    for unit in sorted(sources):
        for name, compiled in sorted(output["contracts"].get(unit, {}).items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts are not deployable
            if name in artifacts:
                raise CompileError(f"contract {name} is defined twice under contracts/src")
            artifacts[name] = {
                "contractName": name,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": version,
                "sourceHash": digest,
            }

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in artifacts and _is_artifact(stale):
            stale.unlink()  # its contract was removed or renamed
    return written


def _is_artifact(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "contractName" in data and "sourceHash" in data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT, help="where to write <Name>.json"
    )
    args = parser.parse_args(argv)
    try:
        written = compile_sources(args.out_dir.resolve())
    except (AggregatorError, CompileError, subprocess.CalledProcessError, OSError) as exc:
        print(f"compile_contracts: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
