"""Compiled contract artifacts and typed access to them.

The Solidity sources under ``contracts/src`` are compiled by
``scripts/compile_contracts.py`` into ``contracts/artifacts/<ContractName>.json``
(committed), each holding the ABI, creation and runtime bytecode, the compiler
version and a ``sourceHash``. The hash covers every ``.sol`` file under
``contracts/src`` and the pinned compiler version, so :func:`current_source_hash`
tells whether an artifact is stale.

The artifacts directory defaults to ``contracts/artifacts`` in the repository and
can be moved with the ``AGGREGATOR_ARTIFACTS_DIR`` environment variable.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from web3 import AsyncWeb3
from web3.contract import AsyncContract

from aggregator.errors import ConfigError, InvalidAddressError

__all__ = [
    "ARTIFACTS_DIR_ENV",
    "CONSTANT_PRODUCT_POOL",
    "CONTRACT_NAMES",
    "FEE_ON_TRANSFER_TOKEN",
    "HASHED_TIMELOCK",
    "NO_BOOL_TOKEN",
    "TEST_TOKEN",
    "Artifact",
    "artifacts_dir",
    "contract",
    "contract_factory",
    "contracts_src_dir",
    "current_source_hash",
    "load_artifact",
    "pinned_compiler_version",
    "source_hash",
]

HASHED_TIMELOCK: Final = "HashedTimelock"
CONSTANT_PRODUCT_POOL: Final = "ConstantProductPool"
TEST_TOKEN: Final = "TestToken"
NO_BOOL_TOKEN: Final = "NoBoolToken"
FEE_ON_TRANSFER_TOKEN: Final = "FeeOnTransferToken"

#: Every contract that has a committed artifact.
CONTRACT_NAMES: Final[tuple[str, ...]] = (
    HASHED_TIMELOCK,
    CONSTANT_PRODUCT_POOL,
    TEST_TOKEN,
    NO_BOOL_TOKEN,
    FEE_ON_TRANSFER_TOKEN,
)

ARTIFACTS_DIR_ENV: Final = "AGGREGATOR_ARTIFACTS_DIR"

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]


class Artifact(BaseModel):
    """One compiled contract, as committed under ``contracts/artifacts``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    name: str = Field(alias="contractName", description="Solidity contract name.")
    abi: tuple[dict[str, Any], ...] = Field(description="The contract's JSON ABI entries.")
    bytecode: HexStr = Field(description="Creation bytecode, 0x-prefixed hex.")
    deployed_bytecode: HexStr = Field(
        alias="deployedBytecode", description="Runtime bytecode, 0x-prefixed hex."
    )
    compiler: str = Field(description="Full solc version that produced the bytecode.")
    source_hash: str = Field(
        alias="sourceHash", description="sha256 of the sources and compiler version (hex)."
    )


def artifacts_dir() -> Path:
    """Directory holding ``<ContractName>.json`` artifacts (env override first)."""
    override = os.environ.get(ARTIFACTS_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return _REPO_ROOT / "contracts" / "artifacts"


def contracts_src_dir() -> Path:
    """Directory holding the Solidity sources that artifacts are compiled from."""
    return _REPO_ROOT / "contracts" / "src"


def pinned_compiler_version(package_json: Path | None = None) -> str:
    """The solc version pinned in the repository's ``package.json`` (e.g. ``0.8.37``)."""
    path = package_json if package_json is not None else _REPO_ROOT / "package.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = manifest["devDependencies"]["solc"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("cannot read the pinned solc version", path=str(path)) from exc
    if not isinstance(version, str) or not version:
        raise ConfigError("the pinned solc version is not a string", path=str(path))
    return version


def source_hash(src_dir: Path, compiler_version: str) -> str:
    """sha256 (hex) over the compiler version and every ``.sol`` under ``src_dir``.

    Files are taken in sorted order of their POSIX path relative to ``src_dir``; each
    contributes its path, its length and its bytes, so renaming, editing, adding or
    removing any source changes the hash.
    """
    digest = hashlib.sha256()
    digest.update(b"solc\0" + compiler_version.encode() + b"\0")
    files = sorted((p.relative_to(src_dir).as_posix(), p) for p in src_dir.rglob("*.sol"))
    for rel, path in files:
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def current_source_hash() -> str:
    """The hash fresh artifacts would carry for the sources now in ``contracts/src``."""
    return source_hash(contracts_src_dir(), pinned_compiler_version())


@lru_cache(maxsize=64)
def _load(path: Path) -> Artifact:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            "no compiled artifact; run scripts/compile_contracts.py", path=str(path)
        ) from exc
    try:
        return Artifact.model_validate_json(raw)
    except PydanticValidationError as exc:
        raise ConfigError("malformed contract artifact", path=str(path)) from exc


def load_artifact(name: str) -> Artifact:
    """Load (once per directory) the artifact of contract ``name``."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError("invalid contract name", name=name)
    artifact = _load(artifacts_dir() / f"{name}.json")
    if artifact.name != name:
        raise ConfigError("artifact names another contract", name=name, found=artifact.name)
    return artifact


def _checksum(address: str) -> ChecksumAddress:
    if not is_address(address):
        raise InvalidAddressError("not an address", address=address)
    return to_checksum_address(address)


def contract(w3: AsyncWeb3[Any], name: str, address: str) -> AsyncContract:
    """An ``AsyncContract`` for the deployed contract ``name`` at ``address``."""
    artifact = load_artifact(name)
    return w3.eth.contract(address=_checksum(address), abi=list(artifact.abi))


def contract_factory(w3: AsyncWeb3[Any], name: str) -> type[AsyncContract]:
    """A deployable ``AsyncContract`` class (ABI plus creation bytecode) for ``name``."""
    artifact = load_artifact(name)
    return w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
