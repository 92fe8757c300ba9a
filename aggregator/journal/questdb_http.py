"""SQL over QuestDB's HTTP ``/exec`` endpoint (httpx), with errors translated at the boundary.

- Transport failures, timeouts and 5xx answers: :class:`AnalyticsUnavailableError`.
- An SQL error (QuestDB answers 400 with ``error`` and ``position``):
  :class:`JournalQueryError`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict

from aggregator.errors import AnalyticsUnavailableError, JournalQueryError

__all__ = ["QueryResult", "QuestDBHttp", "sql_string", "sql_timestamp"]

M = TypeVar("M", bound=BaseModel)


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_timestamp(ns: int) -> str:
    """A QuestDB timestamp literal (UTC, microsecond precision) for integer nanoseconds."""
    seconds, rest = divmod(ns, 1_000_000_000)
    dt = datetime.fromtimestamp(seconds, UTC)
    return f"'{dt:%Y-%m-%dT%H:%M:%S}.{rest // 1000:06d}Z'"


class QueryResult(BaseModel):
    """Columns and rows of one ``/exec`` answer."""

    model_config = ConfigDict(frozen=True)

    columns: tuple[str, ...]
    types: tuple[str, ...]
    dataset: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.dataset]

    def as_models(self, model: type[M]) -> list[M]:
        """Each row validated into ``model`` (NULL columns left out, so defaults apply)."""
        try:
            return [
                model.model_validate({k: v for k, v in record.items() if v is not None})
                for record in self.records()
            ]
        except pydantic.ValidationError as exc:
            raise JournalQueryError(
                f"unexpected rows for {model.__name__}", columns=self.columns, detail=str(exc)
            ) from exc


class QuestDBHttp:
    """A small async client for ``GET /exec?query=...``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self._base_url, timeout=timeout_s, transport=transport
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    async def exec(self, sql: str) -> QueryResult:
        """Run one statement; DDL answers come back with no columns and no rows."""
        try:
            response = await self._client.get("/exec", params={"query": sql})
        except httpx.HTTPError as exc:
            raise AnalyticsUnavailableError(
                "QuestDB is unreachable", url=self._base_url, cause=type(exc).__name__
            ) from exc
        if response.status_code >= 500:
            raise AnalyticsUnavailableError(
                "QuestDB answered with a server error",
                url=self._base_url,
                status=response.status_code,
            )
        try:
            body = response.json()
        except json.JSONDecodeError as exc:
            raise AnalyticsUnavailableError(
                "QuestDB answered with something that is not JSON",
                url=self._base_url,
                status=response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise AnalyticsUnavailableError("unexpected /exec answer", url=self._base_url)
        if response.status_code >= 400 or "error" in body:
            raise JournalQueryError(
                str(body.get("error", f"HTTP {response.status_code}")),
                position=body.get("position"),
                query=sql,
            )
        columns = body.get("columns") or []
        dataset = body.get("dataset") or []
        return QueryResult(
            columns=tuple(str(col["name"]) for col in columns),
            types=tuple(str(col.get("type", "")) for col in columns),
            dataset=tuple(tuple(row) for row in dataset),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
