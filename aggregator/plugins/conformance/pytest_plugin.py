"""pytest plugin of the connector conformance kit (entry point ``pytest11``).

Loaded by every pytest run in an environment where the aggregator is
installed, so it imports nothing but pytest. It registers the
``conformance(case_id)`` marker, tags each case's report with its id and ends
the run with a per-case summary, so a failure is named by its case.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

__all__ = [
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
]

_PROPERTY = "conformance_case"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance(case_id): a connector conformance case with a stable id "
        "(aggregator.plugins.conformance)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("conformance")
    if marker is not None and marker.args:
        report.user_properties.append((_PROPERTY, str(marker.args[0])))
    return report


def _case_of(report: pytest.TestReport) -> str | None:
    for key, value in report.user_properties:
        if key == _PROPERTY:
            return str(value)
    return None


def _detail(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = getattr(report, "longreprtext", "") or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # the kit's own failures start with the case id; otherwise the last line says most
    own = [ln for ln in lines if ln.startswith("conformance/")]
    return own[0] if own else (lines[-1] if lines else "")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if not isinstance(report, pytest.TestReport):
                continue
            case = _case_of(report)
            if case is None or (report.when != "call" and not (report.failed or report.skipped)):
                continue
            owner = report.nodeid.split("::")[-2] if "::" in report.nodeid else report.nodeid
            label = outcome.upper() if report.when == "call" or outcome != "failed" else "ERROR"
            detail = "" if report.passed else _detail(report).removeprefix(f"{case}: ")
            rows.append((case, owner, label, detail))
    if not rows:
        return
    terminalreporter.write_sep("=", "connector conformance")
    for case, owner, label, detail in sorted(rows):
        line = f"{label:8} {case} [{owner}]"
        terminalreporter.write_line(f"{line}  {detail}" if detail else line)
