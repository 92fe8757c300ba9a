"""Configuration of the off-chain venue connector, and its derivation from a devnet manifest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from aggregator.devnet.manifest import DevnetManifest

__all__ = ["PLUGIN_NAME", "OffchainVenueConfig", "configs_from_manifest"]

PLUGIN_NAME = "offchain_venue"
DEFAULT_INSTANCE = "clob"


class OffchainVenueConfig(BaseModel):
    """One order-book venue reached over Binance-Spot-shaped REST and WebSocket APIs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rest_url: str = Field(description="REST base URL, e.g. http://127.0.0.1:9100.")
    ws_url: str = Field(
        description="WebSocket base URL, e.g. ws://127.0.0.1:9100; a trailing /ws or /stream "
        "is accepted. The connector opens the combined stream /stream?streams=...."
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key sent as X-MBX-APIKEY; None for market data only."
    )
    api_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 secret signing account and order requests."
    )
    symbols: tuple[str, ...] | None = Field(
        default=None, description="Venue symbols to follow; None follows every trading symbol."
    )
    depth_limit: int = Field(
        default=1000,
        description="Levels per side asked of a REST depth snapshot and published per book.",
    )
    stream_speed_ms: Literal[100, 1000] = Field(
        default=100, description="Depth stream flavour: <sym>@depth@100ms or <sym>@depth."
    )
    recv_window_ms: int = Field(
        default=5000, gt=0, le=60_000, description="recvWindow of signed requests, ms."
    )
    staleness_s: float = Field(
        default=10.0, gt=0, description="Health turns STALE after this long without a message."
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="REST request timeout.")
    reconnect_initial_s: float = Field(
        default=0.05, gt=0, description="First reconnect delay after a disconnect."
    )
    reconnect_max_s: float = Field(
        default=5.0, gt=0, description="Reconnect delays double up to this bound."
    )
    taker_fee_bps: int = Field(
        default=0, ge=0, lt=10_000, description="Taker fee of the account, basis points."
    )
    rate_limit_safety: float = Field(
        default=0.9, gt=0, le=1, description="Share of the venue's published limits to use."
    )
    max_buffer: int = Field(
        default=10_000, gt=0, description="Diffs buffered per market while it resyncs."
    )
    history: int = Field(
        default=0,
        ge=0,
        description="Applied diffs remembered per market so recent book states can be "
        "rebuilt by update id (consistency checks); 0 disables.",
    )

    @field_validator("rest_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("rest_url must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("ws_url must be a ws(s) URL")
        value = value.rstrip("/")
        for suffix in ("/ws", "/stream"):
            if value.endswith(suffix):
                value = value[: -len(suffix)]
        return value

    @field_validator("depth_limit")
    @classmethod
    def _depth(cls, value: int) -> int:
        if value not in (5, 10, 20, 50, 100, 500, 1000, 5000):
            raise ValueError("depth_limit must be one of 5, 10, 20, 50, 100, 500, 1000, 5000")
        return value

    @property
    def can_trade(self) -> bool:
        return self.api_key is not None and self.api_secret is not None

    def stream_name(self, symbol: str) -> str:
        suffix = "@depth@100ms" if self.stream_speed_ms == 100 else "@depth"
        return f"{symbol.lower()}{suffix}"

    def stream_url(self, symbols: Sequence[str]) -> str:
        """The combined-stream URL carrying every symbol's depth diffs."""
        return f"{self.ws_url}/stream?streams=" + "/".join(self.stream_name(s) for s in symbols)


def configs_from_manifest(manifest: DevnetManifest) -> list[dict[str, Any]]:
    """Connector entries for the devnet's venue: ``[{name, plugin, config}]`` (or none)."""
    venue = manifest.venue
    if venue is None:
        return []
    config = {
        "rest_url": venue.rest_url,
        "ws_url": venue.ws_url,
        "api_key": venue.api_key,
        "api_secret": venue.api_secret.get_secret_value(),
    }
    OffchainVenueConfig.model_validate(config)
    return [{"name": DEFAULT_INSTANCE, "plugin": PLUGIN_NAME, "config": config}]
