"""The router is pure: nothing under aggregator/router imports network or event-loop code."""

from __future__ import annotations

import ast
from pathlib import Path

import aggregator.router

FORBIDDEN = {
    "asyncio",
    "aiohttp",
    "httpx",
    "redis",
    "web3",
    "eth_account",
    "socket",
    "ssl",
    "urllib",
    "http",
    "requests",
    "subprocess",
    "questdb",
    "websockets",
}

ROUTER_DIR = Path(aggregator.router.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_router_modules_import_no_io() -> None:
    files = sorted(ROUTER_DIR.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        bad = _imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_router_package_imports_only_pure_aggregator_parts() -> None:
    for path in ROUTER_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("aggregator.")
            ):
                part = node.module.split(".")[1]
                assert part in {"router", "models", "market", "errors"}, (path.name, node.module)


def test_the_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\nfrom redis.asyncio import Redis\nfrom . import x\n")
    assert _imported_roots(sample) & FORBIDDEN == {"asyncio", "redis"}
