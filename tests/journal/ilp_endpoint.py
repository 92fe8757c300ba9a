"""A local stand-in for QuestDB's HTTP endpoint, strict about what it accepts.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) to serve:

- ``GET /settings``: the protocol versions, as QuestDB announces them (the
  client asks before its first write);
- ``POST /write?precision=n``: ILP rows, parsed with :mod:`tests.journal.ilp` and
  checked against the journal's table specs (known table, declared symbols,
  column types, designated timestamp present). A malformed request is refused
  whole with 400 and nothing from it is stored;
- ``GET /exec?query=...``: only the journal's ``CREATE TABLE`` statements.

Rows are kept per table and deduplicated as QuestDB does with
``DEDUP UPSERT KEYS(ts, event_id)`` (ts at microsecond precision); every
duplicate is counted.

Faults, switched at run time with :meth:`IlpEndpoint.set_mode`:

- ``refuse``: stop listening and drop open connections (connection refused);
- ``error500``: answer writes with 500 and store nothing;
- ``commit_then_500``: store the rows, then answer 500 (the acknowledgement is lost).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from aggregator.journal.schema import TABLES, ColumnType, TableSpec
from tests.journal.ilp import IlpLine, IlpSyntaxError, parse_ilp

__all__ = ["IlpEndpoint", "StoredRow"]

Mode = Literal["ok", "refuse", "error500", "commit_then_500"]

_TYPE_FOR = {
    ColumnType.LONG: "i",
    ColumnType.VARCHAR: "s",
    ColumnType.AMOUNT: "s",
    ColumnType.DOUBLE: "f",
}
_AMOUNT = re.compile(r"0|[1-9][0-9]*")
_DDL = re.compile(
    r"CREATE TABLE IF NOT EXISTS (?P<table>[a-z0-9_]+) \(\s*ts TIMESTAMP,.*\)"
    r" TIMESTAMP\(ts\) PARTITION BY DAY WAL\s+DEDUP UPSERT KEYS\(ts, event_id\)",
    re.DOTALL,
)


@dataclass(frozen=True)
class StoredRow:
    table: str
    ts_ns: int
    symbols: dict[str, str]
    fields: dict[str, object]


@dataclass
class Counters:
    requests: int = 0
    write_requests: int = 0
    rows_received: int = 0
    duplicates: int = 0
    rejected: int = 0
    answered_500: int = 0
    ddl: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class IlpEndpoint:
    def __init__(self, port: int, *, table_prefix: str = "") -> None:
        self.port = port
        self.prefix = table_prefix
        self.mode: Mode = "ok"
        self.counters = Counters()
        self.tables: dict[str, dict[tuple[int, str], StoredRow]] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._specs: dict[str, TableSpec] = {table_prefix + s.name: s for s in TABLES.values()}
        self.row_stored = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self._stop_listening()

    async def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "refuse":
            await self._stop_listening()
        else:
            await self.start()

    # -- data -------------------------------------------------------------------

    def rows(self, kind: str | None = None) -> list[StoredRow]:
        tables = [self.prefix + TABLES[kind].name] if kind else list(self.tables)
        return [row for name in tables for row in self.tables.get(name, {}).values()]

    def event_ids(self) -> list[str]:
        return [str(row.fields["event_id"]) for row in self.rows()]

    # -- HTTP -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, version = request_line.split(" ")
                if version != "HTTP/1.1":
                    await self._respond(writer, 505, b"")
                    return
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if "transfer-encoding" in headers:
                    await self._respond(writer, 411, b"")
                    return
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.counters.requests += 1
                status, payload = self._handle(method, target, body)
                await self._respond(writer, status, payload)
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, status: int, payload: bytes) -> None:
        reasons = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
        reason = reasons.get(status, "Error")
        ctype = "application/json" if payload else "text/plain"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()

    def _handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        if method == "GET" and parts.path == "/settings":
            config = {"line.proto.support.versions": [1, 2], "cairo.max.file.name.length": 127}
            return 200, json.dumps({"config": config}).encode()
        if method == "GET" and parts.path == "/exec":
            sql = query.get("query", [""])[0]
            match = _DDL.fullmatch(sql)
            if match is None or match["table"] not in self._specs:
                return 400, json.dumps(
                    {"query": sql, "error": "unsupported", "position": 0}
                ).encode()
            self.counters.ddl.append(sql)
            return 200, b'{"ddl":"OK"}'
        if method == "POST" and parts.path == "/write":
            return self._write(body, query.get("precision", ["n"])[0])
        return 404, b""

    def _write(self, body: bytes, precision: str) -> tuple[int, bytes]:
        self.counters.write_requests += 1
        if self.mode == "error500":
            self.counters.answered_500 += 1
            return 500, b'{"code":"internal error","message":"injected"}'
        try:
            lines = parse_ilp(body, precision)
            for line in lines:
                self._check(line)
        except (IlpSyntaxError, SchemaError) as exc:
            self.counters.rejected += 1
            self.counters.errors.append(str(exc))
            return 400, json.dumps({"code": "invalid", "message": str(exc)}).encode()
        for line in lines:
            self._store(line)
        if self.mode == "commit_then_500":
            self.counters.answered_500 += 1
            return 500, b'{"code":"internal error","message":"injected after commit"}'
        return 204, b""

    def _check(self, line: IlpLine) -> None:
        spec = self._specs.get(line.table)
        if spec is None:
            raise SchemaError(f"unknown table {line.table!r}")
        if line.ts_ns is None:
            raise SchemaError("row without designated timestamp")
        unknown = set(line.symbols) - set(spec.symbols)
        if unknown:
            raise SchemaError(f"{line.table}: undeclared symbols {sorted(unknown)}")
        declared = dict(spec.fields)
        for name, value in line.fields.items():
            kind = declared.get(name)
            if kind is None:
                raise SchemaError(f"{line.table}: undeclared column {name!r}")
            if value.type != _TYPE_FOR[kind]:
                raise SchemaError(f"{line.table}.{name}: {kind} column sent as {value.type!r}")
            if kind is ColumnType.AMOUNT and not _AMOUNT.fullmatch(str(value.value)):
                raise SchemaError(f"{line.table}.{name}: amount {value.value!r} is not an integer")
        if "event_id" not in line.fields:
            raise SchemaError(f"{line.table}: row without event_id")

    def _store(self, line: IlpLine) -> None:
        assert line.ts_ns is not None
        key = (line.ts_ns // 1000, str(line.fields["event_id"].value))
        table = self.tables.setdefault(line.table, {})
        if key in table:
            self.counters.duplicates += 1
        self.counters.rows_received += 1
        table[key] = StoredRow(
            table=line.table,
            ts_ns=line.ts_ns,
            symbols=dict(line.symbols),
            fields={name: value.value for name, value in line.fields.items()},
        )
        self.row_stored.set()


class SchemaError(ValueError):
    pass


async def _serve_forever(port: int) -> None:
    endpoint = IlpEndpoint(port)
    await endpoint.start()
    print(f"ILP test endpoint on {endpoint.url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="strict local ILP-over-HTTP endpoint")
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(_serve_forever(parser.parse_args().port))
