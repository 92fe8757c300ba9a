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
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["IlpLine", "IlpSyntaxError", "IlpValue", "parse_ilp"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# A name is a run of plain bytes or backslash escapes; which bytes are plain depends on
# the element (a symbol value may hold a quote; no name may hold an unescaped '=').
_NAME_ESC = rb'\\[ ,=\\\n\r"]'
_TABLE = re.compile(rb'(?:[^, \\\n"=]|' + _NAME_ESC + rb")+")
_SYMBOL = re.compile(
    rb',((?:[^,= \\\n"]|' + _NAME_ESC + rb")+)=((?:[^,= \\\n]|" + _NAME_ESC + rb")+)"
)
_FIELD = re.compile(
    rb'((?:[^,= \\\n"]|' + _NAME_ESC + rb")+)="
    rb'(?:"((?:[^"\\\n]|\\["\\\n\r])*)"'  # string
    rb"|=\x10([\x00-\xff]{8})"  # protocol 2 binary double
    rb"|([^, \n]+))"  # any other scalar, checked below
)
_UNESCAPE = re.compile(rb"\\([\x00-\xff])")
_TIMESTAMP = re.compile(rb" (0|[1-9][0-9]*)([nt]?)\n")
_INT = re.compile(rb"-?(0|[1-9][0-9]*)i")
_FLOAT = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|Infinity|-Infinity")
_TS_FIELD = re.compile(rb"(0|[1-9][0-9]*)([tn])")
_BOOLS = {b"t": True, b"T": True, b"true": True, b"f": False, b"F": False, b"false": False}
_PRECISION = {"n": 1, "u": 1000, "ms": 1_000_000, "s": 1_000_000_000}


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


def _text(raw: bytes, fail: Callable[[str], IlpSyntaxError], what: str) -> str:
    if b"\\" in raw:
        raw = _UNESCAPE.sub(rb"\1", raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} is not UTF-8") from exc


def _scalar(tok: bytes, fail: Callable[[str], IlpSyntaxError]) -> IlpValue:
    if tok in _BOOLS:
        return IlpValue("b", _BOOLS[tok])
    if _INT.fullmatch(tok):
        number = int(tok[:-1])
        if not INT64_MIN <= number <= INT64_MAX:
            raise fail("integer out of the 64-bit range")
        return IlpValue("i", number)
    stamp = _TS_FIELD.fullmatch(tok)
    if stamp:
        return IlpValue(stamp.group(2).decode(), int(stamp.group(1)))
    if _FLOAT.fullmatch(tok):
        number = float(tok)
        if math.isinf(number) and tok not in (b"Infinity", b"-Infinity"):
            raise fail("float out of range")
        return IlpValue("f", number)
    raise fail(f"malformed value {tok[:40]!r}")


def parse_ilp(data: bytes, precision: str = "n") -> list[IlpLine]:
    """Every line of an ILP body; raises IlpSyntaxError on the first malformed byte."""
    if precision not in _PRECISION:
        raise IlpSyntaxError(f"unknown precision {precision!r}", 0, 1)
    scale = _PRECISION[precision]
    lines: list[IlpLine] = []
    pos, end = 0, len(data)
    number = 1

    def fail(message: str) -> IlpSyntaxError:
        return IlpSyntaxError(message, pos, number)

    while pos < end:
        found = _TABLE.match(data, pos)
        if found is None:
            raise fail("missing or malformed table name")
        line = IlpLine(table=_text(found.group(), fail, "table name"))
        pos = found.end()
        while pos < end and data[pos] == 0x2C:
            found = _SYMBOL.match(data, pos)
            if found is None:
                raise fail("malformed symbol")
            key = _text(found.group(1), fail, "symbol name")
            if key in line.symbols:
                raise fail(f"duplicate symbol {key!r}")
            line.symbols[key] = _text(found.group(2), fail, "symbol value")
            pos = found.end()
        separator = 0x20
        while True:
            if pos >= end or data[pos] != separator:
                raise fail("expected a column" if separator == 0x20 else "expected ','")
            found = _FIELD.match(data, pos + 1)
            if found is None:
                raise fail("malformed column")
            key = _text(found.group(1), fail, "column name")
            if key in line.fields or key in line.symbols:
                raise fail(f"duplicate column {key!r}")
            string, double, tok = found.group(2, 3, 4)
            if string is not None:
                line.fields[key] = IlpValue("s", _text(string, fail, "string"))
            elif double is not None:
                line.fields[key] = IlpValue("f", struct.unpack("<d", double)[0])
            else:
                line.fields[key] = _scalar(tok, fail)
            pos = found.end()
            separator = 0x2C
            if pos >= end or data[pos] != 0x2C:
                break
        if pos < end and data[pos] == 0x0A:
            pos += 1
        else:
            found = _TIMESTAMP.match(data, pos)
            if found is None:
                raise fail("expected a designated timestamp and the end of the line")
            suffix = found.group(2)
            unit = 1 if suffix == b"n" else 1000 if suffix == b"t" else scale
            line.ts_ns = int(found.group(1)) * unit
            pos = found.end()
        lines.append(line)
        number += 1
    return lines
