"""Request parameters, checked the way Binance Spot checks them.

Query string and form body are merged; a name sent twice is refused (-1101). Numbers
must match Binance's patterns (-1100), missing mandatory ones give -1102, enum values
their own codes (-1115 timeInForce, -1116 type, -1117 side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from aggregator.exchange.errors import BadParameterError

__all__ = ["Params"]

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INTEGER = re.compile(r"^[0-9]{1,20}$")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")

E = TypeVar("E", bound=StrEnum)

_ENUM_CODES = {"timeInForce": -1115, "type": -1116, "side": -1117}
_ENUM_NAMES = {"timeInForce": "timeInForce", "type": "orderType", "side": "side"}


class Params:
    """The merged parameters of one request."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            if name in self._values:
                raise BadParameterError(
                    f"Duplicate values for parameter '{name}'.", venue_code=-1101
                )
            self._values[name] = value

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def optional(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise BadParameterError(
                f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        return value

    def forbid(self, *names: str) -> None:
        for name in names:
            if self.optional(name) is not None:
                raise BadParameterError(
                    f"Parameter '{name}' sent when not required.", venue_code=-1106
                )

    def decimal(self, name: str) -> Decimal | None:
        value = self.optional(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise BadParameterError(
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{_DECIMAL.pattern}'.",
                venue_code=-1100,
            )
        return Decimal(value)

    def integer(self, name: str) -> int | None:
        value = self.optional(name)
        if value is None:
            return None
        if not _INTEGER.match(value):
            raise BadParameterError(
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{_INTEGER.pattern}'.",
                venue_code=-1100,
            )
        return int(value)

    def client_id(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not _CLIENT_ID.match(value):
            raise BadParameterError(
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{_CLIENT_ID.pattern}'.",
                venue_code=-1100,
            )
        return value

    def enum(self, name: str, kind: type[E]) -> E | None:
        value = self.optional(name)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            code = _ENUM_CODES.get(name, -1100)
            label = _ENUM_NAMES.get(name)
            message = (
                f"Invalid {label}." if label else f"Illegal characters found in parameter '{name}'."
            )
            raise BadParameterError(message, venue_code=code) from None

    def required_enum(self, name: str, kind: type[E]) -> E:
        value = self.enum(name, kind)
        if value is None:
            self.required(name)
        assert value is not None
        return value
