"""The connector protocol: what every venue plugin implements.

A plugin is published under the entry-point group ``aggregator.connectors``;
the entry point names a :class:`ConnectorPlugin` object that carries the
protocol version it was built for, its pydantic config model and a factory.
A connector is composed, not inherited: it satisfies :class:`Connector`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from aggregator.models.liquidity import Liquidity
from aggregator.models.market import Market, Side
from aggregator.models.registry import AssetRegistry

__all__ = [
    "PROTOCOL_VERSION",
    "Capabilities",
    "Capability",
    "Connector",
    "ConnectorContext",
    "ConnectorPlugin",
    "ExecutionRequest",
    "ExecutionResult",
    "Fill",
    "Health",
    "HealthStatus",
    "LiquidityUpdate",
]

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change to :class:`Connector`."""


class Capability(StrEnum):
    BOOKS = "books"
    """Serves L2 order books."""
    AMM = "amm"
    """Serves AMM curves."""
    STREAM = "stream"
    """Pushes updates (otherwise liquidity is only polled)."""
    EXECUTE = "execute"
    """Can execute a leg."""
    BALANCES = "balances"
    """Reports the account's balances."""
    STALENESS = "staleness"
    """Can be made to stop its source, so staleness detection can be exercised."""


class Capabilities(BaseModel):
    """What a connector supports, and for what it does not, why."""

    model_config = ConfigDict(frozen=True)

    supported: frozenset[Capability]
    unsupported: Mapping[Capability, str] = Field(default_factory=dict)

    def reason(self, capability: Capability) -> str | None:
        """None when supported; otherwise the declared reason."""
        if capability in self.supported:
            return None
        return self.unsupported.get(capability, "not declared by the connector")


class HealthStatus(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    STALE = "stale"
    QUARANTINED = "quarantined"
    STOPPED = "stopped"


class Health(BaseModel):
    """A connector's health, and per market any quarantine with its reason."""

    model_config = ConfigDict(frozen=True)

    connector: str
    status: HealthStatus
    reason: str | None = None
    last_update_ns: int | None = Field(default=None, description="ts_recv of the last update.")
    last_sequence: int | None = Field(default=None, description="Last update id or block.")
    age_ns: int | None = None
    quarantined: Mapping[str, str] = Field(
        default_factory=dict, description="Market id to the reason it is quarantined."
    )

    @property
    def usable(self) -> bool:
        return self.status is HealthStatus.HEALTHY


class LiquidityUpdate(BaseModel):
    """New liquidity for one market."""

    model_config = ConfigDict(frozen=True)

    market_id: str
    liquidity: Liquidity


class ExecutionRequest(BaseModel):
    """One leg to execute: the limit protects the resolver from slippage."""

    model_config = ConfigDict(frozen=True)

    market_id: str
    side: Side
    amount_in: int = Field(gt=0)
    min_amount_out: int = Field(ge=0, description="Revert or cancel below this output.")
    limit_price: Decimal | None = Field(
        default=None, description="Worst acceptable price, quote per base (books)."
    )
    deadline_s: int = Field(default=60, gt=0, description="Seconds the order may live.")
    client_id: str = Field(description="Idempotency key for the venue or a reference.")


class Fill(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: Decimal
    base_amount: int
    quote_amount: int
    fee: int = 0
    fee_asset: str | None = None


class ExecutionResult(BaseModel):
    """Exact executed amounts of a leg."""

    model_config = ConfigDict(frozen=True)

    market_id: str
    side: Side
    amount_in: int = Field(description="Input actually spent.")
    amount_out: int = Field(description="Output actually received, net of fees.")
    fills: tuple[Fill, ...] = ()
    tx_hash: str | None = None
    order_id: str | None = None
    gas_used: int | None = None
    ts_event: int
    ts_recv: int


@dataclass(frozen=True)
class ConnectorContext:
    """What the registry hands a connector factory besides its own config.

    ``extras`` holds what the composing process shares with its connectors, by key;
    a connector uses what it knows and ignores the rest. Known keys:
    ``"nonce_source"`` (:data:`aggregator.chain.nonces.NONCE_SOURCE`), the
    :class:`~aggregator.chain.nonces.NonceSource` every transaction a connector signs
    must take its nonce from, when other parts of the process sign with the same key.
    """

    registry: AssetRegistry
    instance_name: str
    extras: Mapping[str, Any]


@runtime_checkable
class Connector(Protocol):
    """One venue, normalized."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def markets(self) -> Sequence[Market]: ...

    def liquidity(self, market_id: str) -> Liquidity | None: ...

    def updates(self) -> AsyncIterator[LiquidityUpdate]: ...

    async def fetch_liquidity(self, market_id: str) -> Liquidity:
        """A fresh snapshot read directly from the source, bypassing the stream."""
        ...

    def health(self) -> Health: ...

    def capabilities(self) -> Capabilities: ...

    async def execute(self, request: ExecutionRequest) -> ExecutionResult: ...


@dataclass(frozen=True)
class ConnectorPlugin:
    """What an ``aggregator.connectors`` entry point refers to."""

    name: str
    protocol_version: int
    config_model: type[BaseModel]
    factory: Callable[[Any, ConnectorContext], Connector]
    description: str = ""
