"""The few ABI calls the connector makes, encoded and decoded by hand.

Pool state is read once per block for every pool, so the calldata is
precomputed and the 64-byte answers are sliced directly instead of going
through a generic ABI codec.
"""

from __future__ import annotations

from typing import Final

from eth_abi.abi import encode
from eth_typing import HexStr
from hexbytes import HexBytes

from aggregator.errors import ChainError

__all__ = [
    "ALLOWANCE",
    "APPROVE",
    "BALANCE_OF",
    "DEADLINE_EXPIRED",
    "FEE_BPS",
    "GET_AMOUNT_OUT",
    "GET_RESERVES",
    "INSUFFICIENT_OUTPUT",
    "MAX_UINT256",
    "SWAP",
    "SWAP_TOPIC",
    "TOKEN0",
    "TOKEN1",
    "call_data",
    "decode_address",
    "decode_uint",
    "decode_uints",
]

GET_RESERVES: Final = "0x0902f1ac"
TOKEN0: Final = "0x0dfe1681"
TOKEN1: Final = "0xd21220a7"
FEE_BPS: Final = "0x24a9d853"
GET_AMOUNT_OUT: Final = "0xf140a35a"
SWAP: Final = "0xacf0ae03"
ALLOWANCE: Final = "0xdd62ed3e"
APPROVE: Final = "0x095ea7b3"
BALANCE_OF: Final = "0x70a08231"

INSUFFICIENT_OUTPUT: Final = "0x2c19b8b8"
"""Selector of the pool's ``InsufficientOutput(uint256 amountOut, uint256 minAmountOut)``."""
DEADLINE_EXPIRED: Final = "0x1503f5f8"

SWAP_TOPIC: Final = "0xb39c9bc43f811e1a7ce159c5f147458fdb80266bf23c17322013316e27e086d0"
"""``Swap(address indexed sender, address indexed tokenIn, uint256 amountIn,
uint256 amountOut, address indexed to)``."""

MAX_UINT256: Final = 2**256 - 1

_TYPES: Final = {
    GET_AMOUNT_OUT: ("uint256", "address"),
    SWAP: ("address", "uint256", "uint256", "address", "uint256"),
    ALLOWANCE: ("address", "address"),
    APPROVE: ("address", "uint256"),
    BALANCE_OF: ("address",),
}


def call_data(selector: str, *args: object) -> HexStr:
    """Hex calldata for one of the known functions."""
    if not args:
        return HexStr(selector)
    return HexStr(selector + encode(list(_TYPES[selector]), list(args)).hex())


def _words(result: object, count: int, what: str) -> bytes:
    raw = HexBytes(result) if isinstance(result, str | bytes) else b""
    if len(raw) < 32 * count:
        raise ChainError(
            f"{what}: expected {count} ABI words, got {len(raw)} bytes (no contract there?)"
        )
    return bytes(raw)


def decode_uints(result: object, count: int, what: str = "eth_call") -> tuple[int, ...]:
    raw = _words(result, count, what)
    return tuple(int.from_bytes(raw[32 * i : 32 * i + 32], "big") for i in range(count))


def decode_uint(result: object, what: str = "eth_call") -> int:
    return decode_uints(result, 1, what)[0]


def decode_address(result: object, what: str = "eth_call") -> str:
    raw = _words(result, 1, what)
    return "0x" + raw[12:32].hex()
