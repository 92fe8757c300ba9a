"""Request bodies and the error body of the HTTP API.

Amounts travel as strings of base-unit integers, never as JSON numbers. The
schema of an amount carries its pattern for clients, but the server parses it
itself (:func:`parse_amount`) so that a zero, negative, fractional or
malformed amount is answered with ``invalid_amount`` rather than a generic
schema error.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from aggregator.errors import InvalidAmountError
from aggregator.models.quote import QuoteMode

__all__ = [
    "AMOUNT_PATTERN",
    "MAX_AMOUNT",
    "AmountStr",
    "ErrorBody",
    "QuoteRequestBody",
    "SwapRequestBody",
    "SymbolAsset",
    "TokenAsset",
    "parse_amount",
]

AMOUNT_PATTERN = r"^[0-9]{1,78}$"
MAX_AMOUNT = 2**256 - 1
"""The largest amount an EVM token can hold."""

AmountStr = Annotated[
    str,
    Field(
        description="Base units of the token, as a decimal integer string.",
        json_schema_extra={"pattern": AMOUNT_PATTERN},
        examples=["1000000"],
    ),
]


def parse_amount(value: object, field: str = "amount") -> int:
    """A positive base-unit integer from its wire string; :class:`InvalidAmountError` else."""
    if not isinstance(value, str):
        raise InvalidAmountError(
            f'{field} must be a string of base units, e.g. "1000000"', field=field
        )
    text = value.strip()
    reason = None
    if text.startswith("-"):
        reason = "negative"
    elif "." in text or "e" in text.lower():
        reason = "fractional"
    elif not text.isascii() or not text.isdigit():
        reason = "not_an_integer"
    if reason is None:
        amount = int(text)
        if amount == 0:
            reason = "zero"
        elif amount > MAX_AMOUNT:
            reason = "too_large"
        else:
            return amount
    raise InvalidAmountError(
        f"{field} must be a positive integer number of base units ({reason.replace('_', ' ')})",
        field=field,
        reason=reason,
        value=value[:100],
    )


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SymbolAsset(_Body):
    """An asset by canonical symbol at a location (a chain key)."""

    asset: str = Field(
        min_length=1, max_length=32, description="Canonical symbol, e.g. USDC.", examples=["USDC"]
    )
    location: str = Field(
        min_length=1, max_length=64, description="Chain key, e.g. alpha.", examples=["alpha"]
    )


class TokenAsset(_Body):
    """An asset by token contract address on a chain."""

    token: str = Field(
        min_length=1,
        max_length=64,
        description="EIP-55 checksummed token address.",
        examples=["0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"],
    )
    chain_id: int = Field(ge=1, le=2**63 - 1, description="EIP-155 chain id.")


class QuoteRequestBody(_Body):
    """Sell one asset at a location, buy another at a location."""

    sell: SymbolAsset | TokenAsset = Field(description="What the trader sells, and where.")
    buy: SymbolAsset | TokenAsset = Field(description="What the trader buys, and where.")
    amount: AmountStr = Field(
        description="Base units: of the sell asset (exact_in) or of the buy asset (exact_out)."
    )
    mode: QuoteMode = Field(default=QuoteMode.EXACT_IN, description="Exact input or output.")
    slippage_bps: int = Field(
        default=50, ge=0, le=5_000, description="Tolerance below the quoted output, bps."
    )
    venues_allow: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=64, description="Route only through these venues."
    )
    venues_deny: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=64, description="Never route through these venues."
    )
    firm: bool = Field(
        default=False,
        description="Reserve the resolver's inventory for the quote's lifetime (needed to swap).",
    )


class SwapRequestBody(_Body):
    """Turn a firm quote into a swap: the trader's addresses and the hashlock."""

    quote_id: str = Field(min_length=1, max_length=128, description="Id of a firm quote.")
    source_address: str = Field(
        min_length=1, max_length=64, description="Trader's EIP-55 address on the source chain."
    )
    destination_address: str = Field(
        min_length=1,
        max_length=64,
        description="Trader's EIP-55 address receiving the output on the destination chain.",
    )
    hashlock: str = Field(
        min_length=1,
        max_length=80,
        description="sha256 of the trader's 32-byte secret, 0x-hex.",
        examples=["0x" + "ab" * 32],
    )


class ErrorBody(BaseModel):
    """Every error: a stable machine-readable code, a message, and details."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Stable machine-readable code, e.g. invalid_amount.")
    message: str = Field(description="Human-readable explanation.")
    details: dict[str, Any] = Field(description="Fields that locate or explain the error.")
