"""A strict parser of InfluxDB line protocol as QuestDB accepts it over HTTP (versions 1 and 2).

Used by the test endpoint to check, byte by byte, what the ``questdb`` client
sends. Anything outside the grammar below raises :class:`IlpSyntaxError`.

    line      := table (',' symbol)* ' ' field (',' field)* [' ' timestamp] '\\n'
    symbol    := name '=' name        (non-empty; '\\' escapes ' ' ',' '=' '"' '\\' CR LF)
    field     := name '=' value
    value     := integer 'i' | float | binary-double | '"' string '"' | bool | ts 't' | ts 'n'
    binary    := '=' 0x10 <8 bytes little-endian IEEE 754 double>    (protocol version 2)
    float     := text float, NaN, Infinity or -Infinity                (protocol version 1)
    timestamp := digits ['n' | 't']      (no suffix: the request's ``precision``)

Strings escape '"', '\\', CR and LF with a backslash; no other escape is valid.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field

__all__ = ["IlpLine", "IlpSyntaxError", "IlpValue", "parse_ilp"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_NAME_ESCAPES = frozenset(b' ,=\\\n\r"')
_STRING_ESCAPES = frozenset(b'"\\\n\r')
_INT = re.compile(rb"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_DIGITS = re.compile(rb"(0|[1-9][0-9]*)")
_BOOLS = {b"t": True, b"T": True, b"true": True, b"f": False, b"F": False, b"false": False}
_BINARY_DOUBLE = 16


class IlpSyntaxError(ValueError):
    def __init__(self, message: str, position: int, line: int) -> None:
        super().__init__(f"line {line}, byte {position}: {message}")
        self.position = position
        self.line = line


@dataclass(frozen=True)
class IlpValue:
    """A field value and its ILP type: 'i' integer, 'f' float, 's' string, 'b' bool,
    't' timestamp (microseconds), 'n' timestamp (nanoseconds)."""

    type: str
    value: int | float | str | bool


@dataclass
class IlpLine:
    table: str
    symbols: dict[str, str] = field(default_factory=dict)
    fields: dict[str, IlpValue] = field(default_factory=dict)
    ts_ns: int | None = None


class _Reader:
    def __init__(self, data: bytes, precision: str) -> None:
        self.data = data
        self.pos = 0
        self.line = 1
        self.precision = precision

    def fail(self, message: str) -> IlpSyntaxError:
        return IlpSyntaxError(message, self.pos, self.line)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def expect(self, byte: bytes) -> None:
        if self.data[self.pos : self.pos + 1] != byte:
            raise self.fail(f"expected {byte!r}")
        self.pos += 1

    def name(self, stops: bytes, what: str) -> str:
        out = bytearray()
        while True:
            b = self.peek()
            if b is None:
                raise self.fail(f"unexpected end of data in {what}")
            if b == 0x5C:  # backslash
                nxt = self.data[self.pos + 1] if self.pos + 1 < len(self.data) else None
                if nxt is None or nxt not in _NAME_ESCAPES:
                    raise self.fail(f"invalid escape in {what}")
                out.append(nxt)
                self.pos += 2
                continue
            if b in stops:
                break
            if b == 0x0A:
                raise self.fail(f"unescaped newline in {what}")
            if b == 0x22 and what != "symbol value":
                raise self.fail(f"unescaped quote in {what}")
            if b == 0x3D and what in ("table name", "symbol value"):
                raise self.fail(f"unescaped '=' in {what}")
            out.append(b)
            self.pos += 1
        if not out:
            raise self.fail(f"empty {what}")
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not UTF-8") from exc

    def string(self) -> str:
        self.expect(b'"')
        out = bytearray()
        while True:
            b = self.peek()
            if b is None:
                raise self.fail("unterminated string")
            if b == 0x5C:
                nxt = self.data[self.pos + 1] if self.pos + 1 < len(self.data) else None
                if nxt is None or nxt not in _STRING_ESCAPES:
                    raise self.fail("invalid escape in string")
                out.append(nxt)
                self.pos += 2
                continue
            if b == 0x22:
                self.pos += 1
                break
            if b == 0x0A:
                raise self.fail("unescaped newline in string")
            out.append(b)
            self.pos += 1
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("string is not UTF-8") from exc

    def token(self) -> bytes:
        """Bytes up to ',', ' ' or newline (unquoted scalar)."""
        start = self.pos
        while self.pos < len(self.data) and self.data[self.pos] not in b", \n":
            self.pos += 1
        return self.data[start : self.pos]

    def value(self) -> IlpValue:
        b = self.peek()
        if b == 0x22:
            return IlpValue("s", self.string())
        if b == 0x3D:  # '=': binary format (protocol version 2)
            self.pos += 1
            kind = self.peek()
            if kind != _BINARY_DOUBLE:
                raise self.fail(f"unsupported binary type {kind!r}")
            raw = self.data[self.pos + 1 : self.pos + 9]
            if len(raw) != 8:
                raise self.fail("truncated binary double")
            self.pos += 9
            return IlpValue("f", struct.unpack("<d", raw)[0])
        start = self.pos
        tok = self.token()
        if not tok:
            raise self.fail("empty value")
        if tok in _BOOLS:
            return IlpValue("b", _BOOLS[tok])
        suffix, body = tok[-1:], tok[:-1]
        if suffix == b"i":
            if not _INT.fullmatch(body):
                raise IlpSyntaxError("malformed integer", start, self.line)
            number = int(body)
            if not INT64_MIN <= number <= INT64_MAX:
                raise IlpSyntaxError("integer out of the 64-bit range", start, self.line)
            return IlpValue("i", number)
        if suffix in (b"t", b"n"):
            if not _DIGITS.fullmatch(body):
                raise IlpSyntaxError("malformed timestamp", start, self.line)
            return IlpValue(suffix.decode(), int(body))
        if tok in (b"NaN", b"Infinity", b"-Infinity"):
            return IlpValue("f", float(tok.decode()))
        if _FLOAT.fullmatch(tok):
            number = float(tok)
            if math.isinf(number):
                raise IlpSyntaxError("float out of range", start, self.line)
            return IlpValue("f", number)
        raise IlpSyntaxError(f"malformed value {tok[:40]!r}", start, self.line)

    def timestamp(self) -> int:
        start = self.pos
        tok = self.token()
        if tok.endswith(b"n"):
            digits, scale = tok[:-1], 1
        elif tok.endswith(b"t"):
            digits, scale = tok[:-1], 1000
        else:
            scales = {"n": 1, "u": 1000, "ms": 1_000_000, "s": 1_000_000_000}
            if self.precision not in scales:
                raise IlpSyntaxError("unknown precision", start, self.line)
            digits, scale = tok, scales[self.precision]
        if not _DIGITS.fullmatch(digits):
            raise IlpSyntaxError("malformed designated timestamp", start, self.line)
        return int(digits) * scale

    def line_(self) -> IlpLine:
        out = IlpLine(table=self.name(b", ", "table name"))
        while self.peek() == 0x2C:
            self.pos += 1
            key = self.name(b"=", "symbol name")
            self.expect(b"=")
            value = self.name(b", ", "symbol value")
            if key in out.symbols:
                raise self.fail(f"duplicate symbol {key!r}")
            out.symbols[key] = value
        self.expect(b" ")
        while True:
            key = self.name(b"=", "column name")
            self.expect(b"=")
            if key in out.fields or key in out.symbols:
                raise self.fail(f"duplicate column {key!r}")
            out.fields[key] = self.value()
            if self.peek() != 0x2C:
                break
            self.pos += 1
        if self.peek() == 0x20:
            self.pos += 1
            out.ts_ns = self.timestamp()
        if self.peek() != 0x0A:
            raise self.fail("expected end of line")
        self.pos += 1
        self.line += 1
        return out


def parse_ilp(data: bytes, precision: str = "n") -> list[IlpLine]:
    """Every line of an ILP body; raises IlpSyntaxError on the first malformed byte."""
    reader = _Reader(data, precision)
    lines: list[IlpLine] = []
    while reader.pos < len(data):
        lines.append(reader.line_())
    return lines
