"""Prometheus text exposition, written by hand (format 0.0.4).

Per process: the quote latency histogram, quotes by outcome, HTTP requests by
route and status. Read at scrape time: swaps by state (from Redis, so every
worker reports the same figures), connector staleness and chain head age
(from the worker's book cache), and the settlement latency histogram of the
completed swaps the worker has seen.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["Histogram", "Metrics", "escape_label"]

QUOTE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
SETTLEMENT_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs.items()) + "}"


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Histogram:
    """Cumulative buckets, a sum and a count."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: Mapping[str, str]) -> list[str]:
        out = []
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f"{name}_bucket{_labels({**labels, 'le': _num(bound)})} {running}")
        out.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {self.count}")
        out.append(f"{name}_sum{_labels(labels)} {_num(self.sum)}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


class Metrics:
    """The counters and histograms one worker keeps."""

    def __init__(self) -> None:
        self.worker = str(os.getpid())
        self.quote_latency = Histogram(QUOTE_BUCKETS_S)
        self.quotes: dict[str, int] = defaultdict(int)
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.settlement_latency = Histogram(SETTLEMENT_BUCKETS_S)
        self._settled: set[str] = set()

    def observe_quote(self, seconds: float, outcome: str) -> None:
        self.quote_latency.observe(seconds)
        self.quotes[outcome] += 1

    def observe_request(self, route: str, status: int) -> None:
        self.requests[(route, str(status))] += 1

    def observe_settled(self, swap_id: str, seconds: float) -> None:
        if swap_id not in self._settled:
            self._settled.add(swap_id)
            self.settlement_latency.observe(seconds)

    def render(
        self,
        *,
        swaps_by_state: Mapping[str, int],
        connector_age_s: Mapping[str, float],
        connector_up: Mapping[str, bool],
        chain_age_s: Mapping[str, float],
    ) -> str:
        w = {"worker": self.worker}
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, rows: Iterable[str]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(rows)

        family(
            "aggregator_quote_latency_seconds",
            "histogram",
            "Time to compute, reserve and record a quote.",
            self.quote_latency.lines("aggregator_quote_latency_seconds", w),
        )
        family(
            "aggregator_quotes_total",
            "counter",
            "Quote requests by outcome (ok or the error code).",
            (
                f"aggregator_quotes_total{_labels({**w, 'outcome': k})} {v}"
                for k, v in sorted(self.quotes.items())
            ),
        )
        family(
            "aggregator_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
            (
                f"aggregator_http_requests_total{_labels({**w, 'route': r, 'status': s})} {v}"
                for (r, s), v in sorted(self.requests.items())
            ),
        )
        family(
            "aggregator_swaps",
            "gauge",
            "Swaps by state (shared state in Redis).",
            (
                f"aggregator_swaps{_labels({'state': k})} {v}"
                for k, v in sorted(swaps_by_state.items())
            ),
        )
        family(
            "aggregator_connector_staleness_seconds",
            "gauge",
            "Seconds since each connector's last update.",
            (
                f"aggregator_connector_staleness_seconds{_labels({'connector': k})} {_num(v)}"
                for k, v in sorted(connector_age_s.items())
            ),
        )
        family(
            "aggregator_connector_up",
            "gauge",
            "1 when the connector is healthy.",
            (
                f"aggregator_connector_up{_labels({'connector': k})} {int(v)}"
                for k, v in sorted(connector_up.items())
            ),
        )
        family(
            "aggregator_chain_head_age_seconds",
            "gauge",
            "Seconds since each chain's head was read.",
            (
                f"aggregator_chain_head_age_seconds{_labels({'chain': k})} {_num(v)}"
                for k, v in sorted(chain_age_s.items())
            ),
        )
        family(
            "aggregator_settlement_latency_seconds",
            "histogram",
            "Swap creation to completion, for completed swaps this worker has seen.",
            self.settlement_latency.lines("aggregator_settlement_latency_seconds", w),
        )
        return "\n".join(lines) + "\n"
