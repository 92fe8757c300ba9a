"""Hash-timelock terms, their on-chain id, and the exact calldata of every HTLC call.

Everything here is pure: the encoding follows the ``HashedTimelock`` contract's
ABI (see ``contracts/src/HashedTimelock.sol``), so a lock's id can be computed
before it exists and a trader can be handed ready calldata.

    id = keccak256(abi.encode(chainid, htlc, sender, recipient, token, amount,
                              hashlock, timelock))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import IntEnum
from functools import lru_cache
from typing import Annotated, Final

from eth_abi.abi import decode, encode
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from aggregator.errors import InvalidAddressError, ValidationError

__all__ = [
    "CLAIMED_TOPIC",
    "LOCKED_TOPIC",
    "MAX_UINT256",
    "NATIVE_TOKEN",
    "REFUNDED_TOPIC",
    "Address",
    "Hex32",
    "HtlcState",
    "HtlcTerms",
    "allowance_calldata",
    "approve_calldata",
    "balance_of_calldata",
    "checksum",
    "claim_calldata",
    "decode_lock_data",
    "hashlock_of",
    "htlc_id",
    "lock_batch_calldata",
    "lock_calldata",
    "parse_hex32",
    "refund_calldata",
    "state_of_calldata",
    "terms_differences",
]

NATIVE_TOKEN: Final = "0x0000000000000000000000000000000000000000"
MAX_UINT256: Final = 2**256 - 1


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


_LOCK: Final = _selector("lock(address,address,uint256,bytes32,uint256)")
_LOCK_BATCH: Final = _selector("lockBatch((address,address,uint256,bytes32,uint256)[])")
_CLAIM: Final = _selector("claim(address,address,address,uint256,bytes32,uint256,bytes32)")
_REFUND: Final = _selector("refund(address,address,address,uint256,bytes32,uint256)")
_STATE_OF: Final = _selector("stateOf(bytes32)")
_APPROVE: Final = _selector("approve(address,uint256)")
_ALLOWANCE: Final = _selector("allowance(address,address)")
_BALANCE_OF: Final = _selector("balanceOf(address)")

LOCKED_TOPIC: Final = _topic("Locked(bytes32,bytes32,address,address,address,uint256,uint256)")
CLAIMED_TOPIC: Final = _topic("Claimed(bytes32,bytes32,bytes32)")
REFUNDED_TOPIC: Final = _topic("Refunded(bytes32)")


def checksum(value: object) -> ChecksumAddress:
    """EIP-55 form of an address; :class:`InvalidAddressError` if it is not one."""
    if not isinstance(value, str):
        raise InvalidAddressError("not an address", address=str(value))
    return _checksum(value)


@lru_cache(maxsize=4096)
def _checksum(value: str) -> ChecksumAddress:
    # Few distinct addresses, parsed again and again (every swap record read): cached.
    if not is_address(value):
        raise InvalidAddressError("not an address", address=value)
    return to_checksum_address(value)


def parse_hex32(value: object) -> str:
    """A 32-byte value as lowercase 0x-hex; :class:`ValidationError` otherwise."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValidationError("not hex", value=value) from None
    else:
        raise ValidationError("not a 32-byte value", value=str(value))
    if len(raw) != 32:
        raise ValidationError("expected 32 bytes", length=len(raw))
    return "0x" + raw.hex()


Address = Annotated[ChecksumAddress, BeforeValidator(checksum)]
"""An EVM address in checksum form."""

Hex32 = Annotated[str, BeforeValidator(parse_hex32)]
"""32 bytes as lowercase 0x-hex (hashlocks, preimages, ids)."""


class HtlcState(IntEnum):
    """``HashedTimelock.stateOf``."""

    NONE = 0
    LOCKED = 1
    CLAIMED = 2
    REFUNDED = 3


def hashlock_of(preimage: bytes | str) -> str:
    """``sha256(preimage)`` as 0x-hex, the hashlock the contract checks."""
    raw = bytes.fromhex(parse_hex32(preimage)[2:])
    return "0x" + hashlib.sha256(raw).hexdigest()


def _b32(value: str) -> bytes:
    return bytes.fromhex(value[2:])


class HtlcTerms(BaseModel):
    """The six terms of one lock plus where it lives (chain and contract)."""

    model_config = ConfigDict(frozen=True)

    chain: str = Field(description="Chain key, e.g. alpha.")
    chain_id: int = Field(gt=0, description="EIP-155 chain id.")
    htlc: Address = Field(description="HashedTimelock contract address.")
    sender: Address = Field(description="Who locks (refunds go to it).")
    recipient: Address = Field(description="Who a claim pays.")
    token: Address = Field(description="ERC-20 token; the zero address is the native coin.")
    amount: int = Field(gt=0, description="Base units locked.")
    hashlock: Hex32 = Field(description="sha256 of the secret.")
    timelock: int = Field(gt=0, description="Chain timestamp (s) from which a refund is allowed.")

    @property
    def id(self) -> str:
        """The contract's swap id for these terms."""
        return htlc_id(self)

    @property
    def native(self) -> bool:
        return int(self.token, 16) == 0

    @property
    def value(self) -> int:
        """``msg.value`` a lock of these terms carries."""
        return self.amount if self.native else 0


def htlc_id(terms: HtlcTerms) -> str:
    """The contract's ``swapId``: keccak256 of the ABI-encoded chain id, contract and terms."""
    return _htlc_id(
        terms.chain_id,
        terms.htlc,
        terms.sender,
        terms.recipient,
        terms.token,
        terms.amount,
        terms.hashlock,
        terms.timelock,
    )


@lru_cache(maxsize=8192)
def _htlc_id(
    chain_id: int,
    htlc: str,
    sender: str,
    recipient: str,
    token: str,
    amount: int,
    hashlock: str,
    timelock: int,
) -> str:
    encoded = encode(
        ["uint256", "address", "address", "address", "address", "uint256", "bytes32", "uint256"],
        [chain_id, htlc, sender, recipient, token, amount, _b32(hashlock), timelock],
    )
    return "0x" + keccak(encoded).hex()


def terms_differences(expected: HtlcTerms, actual: HtlcTerms) -> list[str]:
    """Every term on which two locks differ, as ``name: expected X, got Y``."""
    out: list[str] = []
    for name in ("chain_id", "htlc", "sender", "recipient", "token", "amount", "hashlock"):
        want, got = getattr(expected, name), getattr(actual, name)
        if want != got:
            out.append(f"{name}: expected {want}, got {got}")
    if expected.timelock != actual.timelock:
        out.append(f"timelock: expected {expected.timelock}, got {actual.timelock}")
    return out


def lock_calldata(terms: HtlcTerms) -> bytes:
    """``lock(recipient, token, amount, hashlock, timelock)``."""
    return _LOCK + encode(
        ["address", "address", "uint256", "bytes32", "uint256"],
        [terms.recipient, terms.token, terms.amount, _b32(terms.hashlock), terms.timelock],
    )


def lock_batch_calldata(batch: Sequence[HtlcTerms]) -> bytes:
    """``lockBatch(LockParams[])``; every lock must share the sender, chain and contract."""
    if not batch:
        raise ValueError("an empty batch")
    first = batch[0]
    for terms in batch[1:]:
        if (terms.chain_id, terms.htlc, terms.sender) != (first.chain_id, first.htlc, first.sender):
            raise ValueError("a batch spans several chains, contracts or senders")
    params = [(t.recipient, t.token, t.amount, _b32(t.hashlock), t.timelock) for t in batch]
    return _LOCK_BATCH + encode(["(address,address,uint256,bytes32,uint256)[]"], [params])


def claim_calldata(terms: HtlcTerms, preimage: str) -> bytes:
    """``claim(sender, recipient, token, amount, hashlock, timelock, preimage)``."""
    return _CLAIM + encode(
        ["address", "address", "address", "uint256", "bytes32", "uint256", "bytes32"],
        [
            terms.sender,
            terms.recipient,
            terms.token,
            terms.amount,
            _b32(terms.hashlock),
            terms.timelock,
            _b32(parse_hex32(preimage)),
        ],
    )


def refund_calldata(terms: HtlcTerms) -> bytes:
    """``refund(sender, recipient, token, amount, hashlock, timelock)``."""
    return _REFUND + encode(
        ["address", "address", "address", "uint256", "bytes32", "uint256"],
        [
            terms.sender,
            terms.recipient,
            terms.token,
            terms.amount,
            _b32(terms.hashlock),
            terms.timelock,
        ],
    )


def state_of_calldata(swap_id: str) -> bytes:
    """``stateOf(id)``."""
    return _STATE_OF + _b32(parse_hex32(swap_id))


def approve_calldata(spender: str, amount: int = MAX_UINT256) -> bytes:
    """ERC-20 ``approve(spender, amount)``."""
    return _APPROVE + encode(["address", "uint256"], [checksum(spender), amount])


def allowance_calldata(owner: str, spender: str) -> bytes:
    """ERC-20 ``allowance(owner, spender)``."""
    return _ALLOWANCE + encode(["address", "address"], [checksum(owner), checksum(spender)])


def balance_of_calldata(owner: str) -> bytes:
    """ERC-20 ``balanceOf(owner)``."""
    return _BALANCE_OF + encode(["address"], [checksum(owner)])


def decode_lock_data(data: bytes) -> tuple[ChecksumAddress, ChecksumAddress, int, int]:
    """The non-indexed fields of a ``Locked`` event: recipient, token, amount, timelock."""
    recipient, token, amount, timelock = decode(["address", "address", "uint256", "uint256"], data)
    return to_checksum_address(recipient), to_checksum_address(token), int(amount), int(timelock)
