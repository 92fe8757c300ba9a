"""The artifact loader, the source hash and the contract-object helpers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from web3 import AsyncWeb3

from aggregator.chain import bindings
from aggregator.chain.bindings import (
    ARTIFACTS_DIR_ENV,
    CONTRACT_NAMES,
    HASHED_TIMELOCK,
    TEST_TOKEN,
    contract,
    contract_factory,
    load_artifact,
    source_hash,
)
from aggregator.errors import ConfigError, InvalidAddressError


def _signatures(abi: tuple[dict[str, object], ...], kind: str) -> set[str]:
    out = set()
    for entry in abi:
        if entry["type"] != kind:
            continue
        inputs = entry["inputs"]
        assert isinstance(inputs, list)
        types = ",".join(_abi_type(i) for i in inputs)
        out.add(f"{entry['name']}({types})")
    return out


def _abi_type(param: dict[str, object]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        components = param["components"]
        assert isinstance(components, list)
        return "(" + ",".join(_abi_type(c) for c in components) + ")" + kind[len("tuple") :]
    return kind


def test_hashed_timelock_abi_is_the_agreed_interface() -> None:
    abi = load_artifact(HASHED_TIMELOCK).abi
    assert _signatures(abi, "function") == {
        "lock(address,address,uint256,bytes32,uint256)",
        "lockBatch((address,address,uint256,bytes32,uint256)[])",
        "claim(address,address,address,uint256,bytes32,uint256,bytes32)",
        "refund(address,address,address,uint256,bytes32,uint256)",
        "swapId(address,address,address,uint256,bytes32,uint256)",
        "stateOf(bytes32)",
    }
    assert _signatures(abi, "event") == {
        "Locked(bytes32,bytes32,address,address,address,uint256,uint256)",
        "Claimed(bytes32,bytes32,bytes32)",
        "Refunded(bytes32)",
    }
    locked = next(e for e in abi if e["type"] == "event" and e["name"] == "Locked")
    assert [i["indexed"] for i in locked["inputs"]] == [True, True, True] + [False] * 4
    lock = next(e for e in abi if e["type"] == "function" and e["name"] == "lock")
    assert lock["stateMutability"] == "payable"
    state_of = next(e for e in abi if e["type"] == "function" and e["name"] == "stateOf")
    assert state_of["outputs"][0]["type"] == "uint8"


def test_pool_abi_exposes_the_agreed_functions() -> None:
    abi = load_artifact(bindings.CONSTANT_PRODUCT_POOL).abi
    functions = _signatures(abi, "function")
    assert {
        "token0()",
        "token1()",
        "feeBps()",
        "getReserves()",
        "getAmountOut(uint256,address)",
        "swap(address,uint256,uint256,address,uint256)",
        "addLiquidity(uint256,uint256,address)",
        "removeLiquidity(uint256,address)",
    } <= functions
    events = _signatures(abi, "event")
    assert {"Sync(uint256,uint256)", "Swap(address,address,uint256,uint256,address)"} <= events


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_every_artifact_loads_with_bytecode(name: str) -> None:
    artifact = load_artifact(name)
    assert artifact.name == name
    assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 2
    assert artifact.deployed_bytecode.startswith("0x") and len(artifact.deployed_bytecode) > 2
    assert artifact.compiler.startswith(bindings.pinned_compiler_version() + "+")


def test_load_artifact_is_cached_and_frozen() -> None:
    first = load_artifact(TEST_TOKEN)
    assert load_artifact(TEST_TOKEN) is first
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        first.bytecode = HexStr("0x00")  # type: ignore[misc]


def test_env_override_selects_another_artifacts_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = json.loads((bindings.artifacts_dir() / f"{TEST_TOKEN}.json").read_text())
    original["bytecode"] = "0x6001"
    (tmp_path / f"{TEST_TOKEN}.json").write_text(json.dumps(original))
    monkeypatch.setenv(ARTIFACTS_DIR_ENV, str(tmp_path))
    assert bindings.artifacts_dir() == tmp_path.resolve()
    assert load_artifact(TEST_TOKEN).bytecode == "0x6001"
    with pytest.raises(ConfigError):
        load_artifact(HASHED_TIMELOCK)  # not present in the override directory


def test_malformed_or_misnamed_artifacts_raise_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ARTIFACTS_DIR_ENV, str(tmp_path))
    (tmp_path / "Broken.json").write_text('{"contractName": "Broken"}')
    with pytest.raises(ConfigError):
        load_artifact("Broken")
    shutil.copy(bindings._REPO_ROOT / "contracts/artifacts/TestToken.json", tmp_path / "Alias.json")
    with pytest.raises(ConfigError):
        load_artifact("Alias")
    with pytest.raises(ConfigError):
        load_artifact("../artifacts/TestToken")


def test_source_hash_changes_with_any_source_edit_rename_or_compiler(tmp_path: Path) -> None:
    (tmp_path / "A.sol").write_text("contract A {}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "B.sol").write_text("contract B {}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    base = source_hash(tmp_path, "0.8.37")
    assert source_hash(tmp_path, "0.8.37") == base

    (tmp_path / "notes.txt").write_text("still ignored")
    assert source_hash(tmp_path, "0.8.37") == base

    assert source_hash(tmp_path, "0.8.36") != base

    (tmp_path / "sub" / "B.sol").write_text("contract B { }\n")
    edited = source_hash(tmp_path, "0.8.37")
    assert edited != base

    (tmp_path / "sub" / "B.sol").rename(tmp_path / "sub" / "C.sol")
    assert source_hash(tmp_path, "0.8.37") not in {base, edited}

    (tmp_path / "sub" / "C.sol").rename(tmp_path / "sub" / "B.sol")
    (tmp_path / "sub" / "B.sol").write_text("contract B {}\n")
    assert source_hash(tmp_path, "0.8.37") == base
    (tmp_path / "D.sol").write_text("")
    assert source_hash(tmp_path, "0.8.37") != base


def test_contract_helpers_build_async_contracts() -> None:
    w3: AsyncWeb3[Any] = AsyncWeb3()
    address = "0x" + "ab" * 20
    htlc = contract(w3, HASHED_TIMELOCK, address)
    assert htlc.address == w3.to_checksum_address(address)
    assert {f.fn_name for f in htlc.all_functions()} >= {"lock", "claim", "refund"}
    factory = contract_factory(w3, TEST_TOKEN)
    assert factory.bytecode == bytes.fromhex(load_artifact(TEST_TOKEN).bytecode[2:])
    with pytest.raises(InvalidAddressError):
        contract(w3, HASHED_TIMELOCK, "0x1234")
