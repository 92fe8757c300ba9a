"""The plugin's config model: the ``[connectors.config]`` table of an instance.

The registry validates the table with this model before building the
connector, so every field is typed, documented and checked; a bad value is
reported naming the instance and the field.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SyntheticBookConfig", "SyntheticMarketConfig"]


class SyntheticMarketConfig(BaseModel):
    """One synthetic order book."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: str = Field(description="Canonical base asset (must be in the asset registry).")
    quote: str = Field(description="Canonical quote asset.")
    mid: Decimal = Field(gt=0, description="Starting mid price, quote per base.")
    tick_size: Decimal = Field(gt=0, description="Price step, quote per base.")
    spread_ticks: int = Field(default=2, ge=1, description="Ticks between best bid and ask.")
    levels: int = Field(default=20, ge=1, le=1000, description="Levels per side.")
    level_size: int = Field(gt=0, description="Base units at each level (varies around it).")
    fee_bps: int = Field(default=10, ge=0, lt=10_000, description="Taker fee, basis points.")


class SyntheticBookConfig(BaseModel):
    """A synthetic venue: random-walk books, an in-memory account, no network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    markets: tuple[SyntheticMarketConfig, ...] = Field(
        min_length=1, description="Books the venue serves."
    )
    update_interval_s: float = Field(
        default=0.05, gt=0, description="Seconds between book updates."
    )
    stale_after_s: float = Field(
        default=0.5, gt=0, description="Health turns STALE after this long without an update."
    )
    seed: int = Field(default=0, description="Seed of the random walk (reproducible runs).")
    balances: dict[str, int] = Field(
        default_factory=dict, description="Starting account balances, asset to base units."
    )

    @model_validator(mode="after")
    def _stale_after_update(self) -> SyntheticBookConfig:
        if self.stale_after_s <= self.update_interval_s:
            raise ValueError("stale_after_s must exceed update_interval_s")
        return self
