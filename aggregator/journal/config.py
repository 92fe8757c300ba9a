"""Configuration of the audit journal: outbox stream, shipper and QuestDB endpoint."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["JournalConfig", "default_consumer_name"]

QUESTDB_HTTP_ENV = "AGGREGATOR_QUESTDB_HTTP"


def default_consumer_name() -> str:
    """A consumer name unique to this process: host name and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class JournalConfig(BaseModel):
    """Outbox, shipper and QuestDB settings. ``questdb_http=None`` means no QuestDB."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    questdb_http: str | None = Field(
        default=None,
        description="QuestDB HTTP endpoint, e.g. http://127.0.0.1:9000 (ILP writes and /exec "
        "queries). None: not configured; events stay in the outbox up to its cap.",
    )
    table_prefix: str = Field(
        default="",
        pattern=r"^[a-z0-9_]*$",
        description="Prefix of every table name (lets several deployments share a server).",
    )
    outbox_key: str = Field(default="agg:outbox", description="Redis stream of the outbox.")
    outbox_maxlen: int = Field(
        default=1_000_000,
        gt=0,
        description="Approximate cap of the outbox stream (XADD MAXLEN ~); the oldest entries "
        "go first when it is full.",
    )
    dead_letter_key: str = Field(
        default="agg:outbox:dead",
        description="Stream receiving outbox entries that cannot be decoded.",
    )
    delete_shipped: bool = Field(
        default=True,
        description="XDEL entries once shipped and acknowledged, so the stream holds only the "
        "backlog (turn off if another consumer group reads the outbox).",
    )
    group: str = Field(default="questdb-shipper", description="Consumer group of the shippers.")
    consumer: str = Field(
        default_factory=default_consumer_name,
        min_length=1,
        description="This shipper's consumer name in the group; unique per process.",
    )
    batch_size: int = Field(default=1000, gt=0, description="Entries read and flushed at once.")
    block_ms: int = Field(default=500, gt=0, description="XREADGROUP block time.")
    claim_min_idle_ms: int = Field(
        default=30_000,
        gt=0,
        description="An entry pending this long with another consumer is claimed (XAUTOCLAIM).",
    )
    claim_interval_ms: int = Field(
        default=5_000, gt=0, description="How often to look for entries of dead consumers."
    )
    backoff_initial_ms: int = Field(
        default=100, gt=0, description="First wait after a failed flush; doubles each time."
    )
    backoff_max_ms: int = Field(default=5_000, gt=0, description="Cap of the retry wait.")
    client_retry_timeout_ms: int = Field(
        default=0,
        ge=0,
        description="The QuestDB client's own retry window per flush; small, since the "
        "shipper retries with its own backoff.",
    )
    request_timeout_ms: int = Field(
        default=10_000, gt=0, description="HTTP request timeout of one ILP flush."
    )
    query_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one /exec query.")

    @field_validator("questdb_http")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"questdb_http must be an http(s) URL with a host, got {value!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("questdb_http is the server's base URL, without path or query")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def configured(self) -> bool:
        return self.questdb_http is not None

    def sender_conf(self) -> str:
        """Configuration string of the QuestDB client (ILP over HTTP, manual flushes)."""
        if self.questdb_http is None:
            raise ValueError("QuestDB is not configured")
        parts = urlsplit(self.questdb_http)
        port = parts.port or (443 if parts.scheme == "https" else 9000)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return (
            f"{parts.scheme}::addr={host}:{port};"
            "auto_flush=off;"
            f"retry_timeout={self.client_retry_timeout_ms};"
            f"request_timeout={self.request_timeout_ms};"
        )

    @classmethod
    def from_env(cls, **overrides: object) -> JournalConfig:
        """Defaults, the QuestDB URL from ``AGGREGATOR_QUESTDB_HTTP``, then ``overrides``."""
        values: dict[str, object] = {}
        url = os.environ.get(QUESTDB_HTTP_ENV)
        if url:
            values["questdb_http"] = url
        values.update(overrides)
        return cls.model_validate(values)
