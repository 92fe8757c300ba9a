"""The connector conformance kit, shipped with the package.

Subclass :class:`ConnectorConformance` in a test module (name it ``Test...``)
and implement ``make_connector``; see ``examples/example_connector/README.md``.
The pytest plugin (:mod:`aggregator.plugins.conformance.pytest_plugin`) is
registered as a ``pytest11`` entry point and names each case in the summary.

Names are imported on first use so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.plugins.conformance.cases import CASES, Case
    from aggregator.plugins.conformance.suite import ConnectorConformance, ExecutionProbe

__all__ = ["CASES", "Case", "ConnectorConformance", "ExecutionProbe"]

_HOME = {
    "CASES": "cases",
    "Case": "cases",
    "ConnectorConformance": "suite",
    "ExecutionProbe": "suite",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
