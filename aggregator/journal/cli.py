"""Commands over the audit journal in QuestDB.

- ``aggregator report [--from ISO] [--to ISO] [--json]``: every metric over a
  window (default: the last hour).
- ``aggregator audit export --from ISO --to ISO --out FILE.csv``: one CSV row per
  swap with its legs and transactions (columns in :mod:`aggregator.journal.audit`).

The QuestDB endpoint comes from ``--questdb-http`` or the environment variable
``AGGREGATOR_QUESTDB_HTTP``; without either, both commands fail with
``analytics_unavailable``. Times without a zone are UTC.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aggregator.errors import ValidationError
from aggregator.journal.aggregate import TimeWindow
from aggregator.journal.audit import export_audit, format_ns_utc
from aggregator.journal.config import JournalConfig
from aggregator.journal.metrics import Analytics, AnalyticsReport

__all__ = ["parse_iso_ns", "register", "render_report"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_REPORT_SECONDS = 3600


def parse_iso_ns(text: str) -> int:
    """ISO 8601 date-time to integer nanoseconds since the epoch (UTC when no zone is given)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--questdb-http",
        default=None,
        help="QuestDB HTTP endpoint (default: $AGGREGATOR_QUESTDB_HTTP)",
    )
    parser.add_argument("--table-prefix", default="", help="prefix of the journal tables")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="metrics from the audit journal (QuestDB)")
    _common(report)
    report.add_argument("--from", dest="start", type=parse_iso_ns, help="window start (ISO)")
    report.add_argument("--to", dest="end", type=parse_iso_ns, help="window end (ISO)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.set_defaults(handler=_report)

    audit = subparsers.add_parser("audit", help="audit trail exports")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND")
    export = audit_sub.add_parser("export", help="swaps with their legs and transactions, CSV")
    _common(export)
    export.add_argument("--from", dest="start", type=parse_iso_ns, required=True)
    export.add_argument("--to", dest="end", type=parse_iso_ns, required=True)
    export.add_argument("--out", type=Path, required=True, help="CSV file to write")
    export.set_defaults(handler=_audit_export)


def _config(args: argparse.Namespace) -> JournalConfig:
    overrides: dict[str, object] = {"table_prefix": args.table_prefix}
    if args.questdb_http:
        overrides["questdb_http"] = args.questdb_http
    return JournalConfig.from_env(**overrides)


def _window(args: argparse.Namespace) -> TimeWindow:
    end = args.end if args.end is not None else time.time_ns()
    start = args.start if args.start is not None else end - DEFAULT_REPORT_SECONDS * 10**9
    if end <= start:
        raise ValidationError("--to must be after --from")
    return TimeWindow(start_ns=start, end_ns=end)


def _report(args: argparse.Namespace) -> int:
    config = _config(args)
    window = _window(args)

    async def run() -> AnalyticsReport:
        analytics = Analytics(config)
        try:
            return await analytics.report(window)
        finally:
            await analytics.aclose()

    result = asyncio.run(run())
    print(result.model_dump_json(indent=2) if args.json else render_report(result))
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    count = asyncio.run(export_audit(_config(args), _window(args), args.out))
    print(f"{count} swaps written to {args.out}")
    return 0


def _s(ns: int) -> str:
    return f"{Decimal(ns) / 10**9:.3f}"


def _ms(ns: int) -> str:
    return f"{Decimal(ns) / 10**6:.3f}"


def _opt(value: object) -> str:
    return "-" if value is None else str(value)


def render_report(report: AnalyticsReport) -> str:
    """A plain-text rendering of every metric."""
    w = report.window
    lines = [
        f"window {format_ns_utc(w.start_ns)} .. {format_ns_utc(w.end_ns)} ({_s(w.duration_ns)} s)",
        "",
        f"finality (trader lock -> both claims): {report.finality.completed} final swaps",
        f"  {'chain pair':<24}{'swaps':>8}{'p50 s':>12}{'p95 s':>12}",
    ]
    for pair in report.finality.pairs:
        lines.append(
            f"  {pair.chain_pair or '?':<24}{pair.swaps:>8}{_s(pair.p50_ns):>12}"
            f"{_s(pair.p95_ns):>12}"
        )
    e = report.efficiency
    lines += [
        "",
        "settlement efficiency",
        f"  gas per swap     mean {_opt(e.gas_per_swap)}  p50 {_opt(e.gas_per_swap_p50)}"
        f"  p95 {_opt(e.gas_per_swap_p95)}  ({e.swaps_with_gas} swaps)",
        f"  swaps per batch  mean {_opt(e.swaps_per_batch)}  ({e.batches} transactions)",
        f"  slippage bps     overall {_opt(e.slippage_bps)}  p50 {_opt(e.slippage_bps_p50)}"
        f"  p95 {_opt(e.slippage_bps_p95)}  ({e.legs} legs, quoted {e.quoted_out_total},"
        f" executed {e.executed_out_total})",
        "",
        "throughput",
        f"  quotes       {report.throughput.quotes}  ({report.throughput.quotes_per_second:.3f}/s)",
        f"  final swaps  {report.throughput.swaps_completed}"
        f"  ({report.throughput.swaps_per_hour:.3f}/h)",
        "",
        "state-sync latency (ts_recv - ts_event)",
        f"  {'source':<24}{'samples':>8}{'p50 ms':>12}{'p99 ms':>12}",
    ]
    for source in report.sync_latency.sources:
        lines.append(
            f"  {source.source:<24}{source.samples:>8}{_ms(source.p50_ns):>12}"
            f"{_ms(source.p99_ns):>12}"
        )
    return "\n".join(lines)
