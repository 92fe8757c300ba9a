"""The test endpoint's ILP parser: it reads back exactly what the client encodes, and
refuses malformed input."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from questdb import Sender, TimestampNanos

from tests.journal.ilp import IlpSyntaxError, parse_ilp


@pytest.fixture(scope="module", params=[1, 2])
def sender(request: pytest.FixtureRequest) -> Iterator[Sender]:
    # An explicit protocol version needs no server: nothing is ever flushed.
    with Sender.from_conf(
        f"http::addr=127.0.0.1:1;protocol_version={request.param};auto_flush=off;"
    ) as s:
        yield s
        s.close(flush=False)


names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\\.,=\"/:?'*~+-#%()"
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() == s and s.strip())
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
symbol_values = texts.filter(lambda s: s != "")
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)
doubles = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(
    table=names,
    symbol=symbol_values,
    text=texts,
    number=longs,
    double=doubles,
    flag=st.booleans(),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_parser_reads_back_what_the_client_encodes(
    sender: Sender,
    table: str,
    symbol: str,
    text: str,
    number: int,
    double: float,
    flag: bool,
    ts: int,
) -> None:
    buffer = sender.new_buffer()
    buffer.row(
        table,
        symbols={"sym": symbol},
        columns={"s": text, "i": number, "f": double, "b": flag},
        at=TimestampNanos(ts),
    )
    buffer.row(table, columns={"i": 1}, at=TimestampNanos(ts + 1))
    (line, second) = parse_ilp(bytes(buffer), "n")
    assert line.table == table
    assert line.symbols == {"sym": symbol}
    assert line.fields["s"].type == "s" and line.fields["s"].value == text
    assert line.fields["i"].type == "i" and line.fields["i"].value == number
    assert line.fields["b"].type == "b" and line.fields["b"].value is flag
    parsed = line.fields["f"]
    assert parsed.type == "f"
    assert isinstance(parsed.value, float)
    if math.isnan(double):
        assert math.isnan(parsed.value)
    else:
        assert parsed.value == double
    assert line.ts_ns == ts
    assert second.fields["i"].value == 1 and second.ts_ns == ts + 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"t x=1i 5n", "no final newline"),
        (b"t x=1i 5n\nt y=2i", "second line cut short"),
        (b"t 5n\n", "no column"),
        (b",a=b x=1i 5n\n", "empty table name"),
        (b"t,a= x=1i 5n\n", "empty symbol value"),
        (b"t,a=b,a=c x=1i 5n\n", "duplicate symbol"),
        (b"t x=1i,x=2i 5n\n", "duplicate column"),
        (b"t x=1.5i 5n\n", "malformed integer"),
        (b"t x=01i 5n\n", "leading zero"),
        (b"t x=9223372036854775808i 5n\n", "integer beyond 64 bits"),
        (b't x="abc 5n\n', "unterminated string"),
        (b't x="a\\tb" 5n\n', "invalid string escape"),
        (b"t x=abc 5n\n", "bare word"),
        (b"t x=1.5.2 5n\n", "malformed float"),
        (b"t x==\x0e\x00 5n\n", "unsupported binary type"),
        (b"t x==\x10\x00\x00 5n\n", "truncated binary double"),
        (b"t x=1i 5q\n", "bad timestamp suffix"),
        (b"t x=1i -5n\n", "negative timestamp"),
        (b"t x=1i 5n \n", "trailing space"),
        (b"t x=1i  5n\n", "double space"),
        (b"t\\q x=1i 5n\n", "invalid name escape"),
        (b"t,a=b=c x=1i 5n\n", "unescaped '=' in a symbol value"),
        (b"t x\n=1i 5n\n", "newline in a column name"),
        (b"t x=\xff\xfe 5n\n", "garbage bytes"),
    ],
)
def test_parser_refuses_malformed_lines(body: bytes, why: str) -> None:
    with pytest.raises(IlpSyntaxError):
        parse_ilp(body, "n")


def test_parser_handles_precision_and_timestamp_suffixes() -> None:
    (a, b, c) = parse_ilp(b"t x=1i 7\nt x=1i 7t\nt x=1i,y=3t,z=4n 7n\n", "u")
    assert a.ts_ns == 7000
    assert b.ts_ns == 7000
    assert c.ts_ns == 7
    assert c.fields["y"].type == "t" and c.fields["y"].value == 3
    assert c.fields["z"].type == "n" and c.fields["z"].value == 4
