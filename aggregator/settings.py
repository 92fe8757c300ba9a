"""Service settings: ``config/service.toml`` plus ``AGGREGATOR_...`` environment overrides.

Every section is a frozen pydantic model with every field documented; secrets
(the Redis URL, which may carry a password, and API keys) are ``SecretStr``.

Environment overrides, applied after the file:

* shortcuts: ``AGGREGATOR_REDIS_URL``, ``AGGREGATOR_API_KEYS`` (comma separated),
  ``AGGREGATOR_API_KEY_HASHES`` (comma separated sha256 hex digests),
  ``AGGREGATOR_DEVNET_DIR``, ``AGGREGATOR_QUESTDB_HTTP``, ``AGGREGATOR_API_HOST``,
  ``AGGREGATOR_API_PORT``, ``AGGREGATOR_API_WORKERS``;
* any field: ``AGGREGATOR_<SECTION>__<FIELD>`` (nested with ``__``), e.g.
  ``AGGREGATOR_API__QUOTE_RATE__BURST=500``; values are parsed as JSON when they
  parse, else taken as strings.

The file defaults to ``config/service.toml`` in the repository, or the path in
``AGGREGATOR_CONFIG``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from aggregator.errors import ConfigError
from aggregator.journal.config import JournalConfig
from aggregator.router.config import RouterConfig

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "ApiSettings",
    "DevnetSettings",
    "MarketDataSettings",
    "RateLimit",
    "RedisSettings",
    "Settings",
    "SettlementSettings",
    "default_config_path",
    "env_overrides",
    "hash_api_key",
    "load_settings",
]

ENV_PREFIX: Final = "AGGREGATOR_"
CONFIG_ENV: Final = "AGGREGATOR_CONFIG"
_REPO_ROOT: Final = Path(__file__).resolve().parents[1]

_SHORTCUTS: Final[Mapping[str, tuple[str, ...]]] = {
    "AGGREGATOR_REDIS_URL": ("redis", "url"),
    "AGGREGATOR_API_KEYS": ("api", "api_keys"),
    "AGGREGATOR_API_KEY_HASHES": ("api", "api_key_hashes"),
    "AGGREGATOR_DEVNET_DIR": ("devnet", "state_dir"),
    "AGGREGATOR_QUESTDB_HTTP": ("journal", "questdb_http"),
    "AGGREGATOR_API_HOST": ("api", "host"),
    "AGGREGATOR_API_PORT": ("api", "port"),
    "AGGREGATOR_API_WORKERS": ("api", "workers"),
}
_LISTS: Final = frozenset({("api", "api_keys"), ("api", "api_key_hashes")})


def hash_api_key(key: str) -> str:
    """The sha256 hex digest an API key is stored as."""
    return hashlib.sha256(key.encode()).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(_Frozen):
    """A token bucket: ``burst`` requests at once, refilled at ``rate_per_s``."""

    rate_per_s: float = Field(gt=0, description="Tokens added per second.")
    burst: int = Field(ge=1, description="Bucket size: requests allowed at once.")


class ApiSettings(_Frozen):
    """The HTTP/WebSocket API."""

    host: str = Field(default="127.0.0.1", description="Address to bind (loopback by default).")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port).")
    workers: int = Field(
        default=1, ge=1, le=64, description="API worker processes sharing the port."
    )
    api_keys: tuple[SecretStr, ...] = Field(
        default=(), description="API keys for the swap endpoints (hashed when loaded)."
    )
    api_key_hashes: tuple[str, ...] = Field(
        default=(), description="sha256 hex digests of further API keys."
    )
    quote_rate: RateLimit = Field(
        default=RateLimit(rate_per_s=50, burst=100),
        description="Quote and market-data requests per client IP.",
    )
    swap_rate_per_key: RateLimit = Field(
        default=RateLimit(rate_per_s=10, burst=20), description="Swap requests per API key."
    )
    swap_rate_per_address: RateLimit = Field(
        default=RateLimit(rate_per_s=1, burst=5),
        description="Swap creations per trader source address.",
    )
    max_body_bytes: int = Field(default=65_536, ge=1024, description="Largest request body.")
    book_levels: int = Field(default=20, ge=1, le=200, description="Ladder levels per side.")
    book_step_bps: int = Field(default=10, ge=1, le=1000, description="Ladder price step, bps.")
    ws_max_subscriptions: int = Field(
        default=16, ge=1, description="Subscriptions one WebSocket may hold."
    )
    ws_swap_poll_s: float = Field(
        default=0.1, gt=0, description="How often a swap subscription reads the swap's state."
    )
    route_cache_size: int = Field(
        default=4096, ge=0, description="Quotes memoized per snapshot (0 disables the memo)."
    )

    @field_validator("api_key_hashes")
    @classmethod
    def _hex_digests(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for digest in value:
            digest = digest.strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("an API key hash is a sha256 hex digest (64 hex characters)")
            out.append(digest)
        return tuple(out)

    def key_hashes(self) -> frozenset[str]:
        """Every accepted key, as its sha256 hex digest; plaintext keys are not kept."""
        hashed = {hash_api_key(k.get_secret_value()) for k in self.api_keys}
        return frozenset(hashed | set(self.api_key_hashes))


class RedisSettings(_Frozen):
    """The Redis holding quotes, swaps, reservations, rate limits and the book cache."""

    url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL (may carry a password, hence secret).",
    )
    key_prefix: str = Field(
        default="agg", pattern=r"^[a-z0-9_]+$", description="Prefix of the API's own keys."
    )


class MarketDataSettings(_Frozen):
    """The market-data process and the book cache it feeds."""

    heartbeat_interval_s: float = Field(
        default=0.25, gt=0, description="How often health and a heartbeat are published."
    )
    stale_after_s: float = Field(
        default=3.0, gt=0, description="Workers treat every source as stale past this silence."
    )
    inventory_refresh_s: float = Field(
        default=1.0, gt=0, description="How often the resolver's balances are read."
    )
    max_age_s: float | None = Field(
        default=None, gt=0, description="Leave out liquidity older than this (None: no limit)."
    )
    snapshot_interval_s: float = Field(
        default=1.0, gt=0, description="Workers rebuild their snapshot at least this often."
    )
    snapshot_min_interval_s: float = Field(
        default=0.2,
        ge=0,
        description="Workers rebuild their snapshot at most this often (changes are batched).",
    )
    snapshot_warm_s: float = Field(
        default=0.15,
        ge=0,
        description="A newer snapshot becomes current once the requests most asked for are "
        "priced on it, or this long after it was built at the latest (0: at once).",
    )
    numeraire: str = Field(default="USDC", description="Asset reference prices are quoted in.")
    start_timeout_s: float = Field(
        default=30.0, gt=0, description="Wait for every connector's first data at start."
    )


class DevnetSettings(_Frozen):
    """Where the devnet's manifest (chains, contracts, accounts) is read from."""

    state_dir: Path | None = Field(
        default=None, description="Devnet state dir; None: $AGGREGATOR_DEVNET_DIR or .devnet/."
    )

    def resolved_dir(self) -> Path:
        from aggregator.devnet.lifecycle import default_state_dir

        return (self.state_dir or default_state_dir()).expanduser().resolve()


class SettlementSettings(_Frozen):
    """Settlement knobs the service sets on top of the devnet's chains."""

    execute_legs: bool = Field(
        default=True, description="Run a swap's trade legs to restore inventory after delivery."
    )
    poll_interval_s: float = Field(default=0.02, gt=0, description="Coordinator tick pause.")
    lease_ttl_ms: int = Field(default=5_000, gt=0, description="Per-swap lease time to live.")
    lock_window_s: int = Field(
        default=60, gt=0, description="Trader's time to lock after the swap is created."
    )


class Settings(_Frozen):
    """Everything the service reads at start."""

    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP/WebSocket API.")
    redis: RedisSettings = Field(default_factory=RedisSettings, description="Redis.")
    market_data: MarketDataSettings = Field(
        default_factory=MarketDataSettings, description="Market data and the book cache."
    )
    devnet: DevnetSettings = Field(default_factory=DevnetSettings, description="Devnet manifest.")
    router: RouterConfig = Field(default_factory=RouterConfig, description="Routing and quotes.")
    settlement: SettlementSettings = Field(
        default_factory=SettlementSettings, description="Settlement."
    )
    journal: JournalConfig = Field(
        default_factory=JournalConfig, description="Outbox, shipper and QuestDB."
    )
    assets_path: Path = Field(
        default=_REPO_ROOT / "config" / "assets.toml", description="Canonical assets TOML."
    )
    connectors_path: Path | None = Field(
        default=None,
        description="Extra connector instances ([[connectors]] TOML) besides the devnet's.",
    )

    def with_overrides(self, **sections: Any) -> Settings:
        """A copy with some fields of some sections replaced (validated)."""
        data = self.model_dump(mode="python")
        for section, values in sections.items():
            if isinstance(values, Mapping) and isinstance(data.get(section), Mapping):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
        return Settings.model_validate(_reveal(data))


def default_config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    return Path(override) if override else _REPO_ROOT / "config" / "service.toml"


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_reveal(v) for v in value]
    return value


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _parse_env_value(path: tuple[str, ...], raw: str) -> Any:
    if path in _LISTS:
        return [item.strip() for item in raw.split(",") if item.strip()]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings tree the ``AGGREGATOR_...`` variables describe."""
    tree: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = _SHORTCUTS.get(name)
        if path is None:
            rest = name[len(ENV_PREFIX) :]
            if "__" not in rest:
                continue
            path = tuple(part.lower() for part in rest.split("__") if part)
        value = _parse_env_value(path, raw)
        if path[-1] in ("url", "questdb_http", "state_dir", "host") and not isinstance(value, str):
            value = raw
        _set(tree, path, value)
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, **sections: Any
) -> Settings:
    """The file (``path`` or the default), then the environment, then ``sections``.

    A partial table overrides only the fields it names. A missing default file means
    built-in defaults; a missing explicit file, or an
    invalid value anywhere, is a :class:`~aggregator.errors.ConfigError` naming the field.
    """
    file = path or default_config_path()
    raw: dict[str, Any] = {}
    if file.exists() or path is not None:
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {file}: {exc}", path=str(file)) from exc
    defaults = _reveal(Settings().model_dump(mode="python", exclude={"journal": {"consumer"}}))
    merged = _merge(_merge(defaults, raw), env_overrides(os.environ if env is None else env))
    merged = _merge(merged, sections)
    try:
        return Settings.model_validate(merged)
    except PydanticValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(
            "invalid settings: " + "; ".join(problems), path=str(file), problems=problems
        ) from None
