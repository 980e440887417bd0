"""Prometheus metrics: HTTP requests and latency, plus whatever the runtime reports at scrape time.

Each app owns its own `CollectorRegistry` (tests and embedding programs may build several apps in
one process). The runtime is decoupled through a hook: `Metrics.register_runtime_gauges(fn)`
takes a callable returning a mapping read on every scrape:

    {"live_sessions": 12, "passivated_sessions": 340,        # gauges
     "turns_total": 1234, "model_errors_total": 3,            # names ending in _total: counters
     "writer_batch_size": {"buckets": [(1, 10), (8, 40), (float("inf"), 41)],
                           "sum": 170.0},                     # cumulative buckets: histogram
     "background_failures_total": {"label": "loop",           # one labelled family:
                                   "values": {"sweeper": 0}}} # {loop="sweeper"} 0

Every name is exported with the `chinwag_` prefix. Names in `KNOWN_COUNTERS` are counters
too. When both `stored_sessions` and `live_sessions` are reported, `passivated_sessions` is
derived. `create_app` registers the runtime's and the integrations' typed `stats()`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

RuntimeSnapshot = Callable[[], Mapping[str, Any]]

KNOWN_HELP = {
    "live_sessions": "Session actors currently running in memory.",
    "passivated_sessions": "Sessions stored but not in memory (revived on the next message).",
    "turns_total": "Prompt turns answered since the process started.",
    "model_errors_total": "Model provider failures and timeouts since the process started.",
    "writer_batch_size": "Records written per LMDB write transaction.",
    "stored_sessions": "Sessions stored in the data directory (live or not, not yet purged).",
    "session_activations": "Session actors started (created or revived) since start.",
    "session_passivations": "Idle session actors stopped to free memory since start.",
    "turns_started": "Prompt turns started since the process started.",
    "model_errors": "Model provider failures and timeouts since the process started.",
    "sessions_created": "Sessions created since the process started.",
    "sessions_purged": "Expired sessions purged after their retention since start.",
    "actor_restarts": "Session actors restarted by the supervisor after a crash.",
    "background_failures_total": "Items a background loop failed on, logged and skipped.",
}

# Monotonic numbers the runtime reports without a `_total` suffix.
KNOWN_COUNTERS = frozenset(
    {
        "session_activations",
        "session_passivations",
        "turns_started",
        "model_errors",
        "sessions_created",
        "sessions_purged",
        "actor_restarts",
    }
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RuntimeCollector(Collector):
    """Reads the registered runtime callbacks on each scrape; a failing callback is skipped."""

    def __init__(self) -> None:
        self.sources: list[RuntimeSnapshot] = []

    def collect(self) -> Iterator[Metric]:
        for source in list(self.sources):
            try:
                snapshot = dict(source())
            except Exception:
                log.exception("runtime metrics callback failed")
                continue
            if "stored_sessions" in snapshot and "live_sessions" in snapshot:
                snapshot.setdefault(
                    "passivated_sessions",
                    max(0, snapshot["stored_sessions"] - snapshot["live_sessions"]),
                )
            for name, value in snapshot.items():
                family = _family(name, value)
                if family is not None:
                    yield family


def _labelled(name: str, help_text: str, value: Mapping[str, Any]) -> Metric:
    """A family with one label: `{"label": "loop", "values": {"sweeper": 3, ...}}`."""
    label = str(value["label"])
    if name.endswith("_total"):
        family: Any = CounterMetricFamily(
            f"chinwag_{name[: -len('_total')]}", help_text, labels=[label]
        )
    else:
        family = GaugeMetricFamily(f"chinwag_{name}", help_text, labels=[label])
    for label_value, number in sorted(value["values"].items()):
        family.add_metric([str(label_value)], float(number))
    return family


def _family(name: str, value: Any) -> Metric | None:
    help_text = KNOWN_HELP.get(name, f"chinwag runtime metric {name}.")
    if isinstance(value, Mapping) and "label" in value and "values" in value:
        return _labelled(name, help_text, value)
    if isinstance(value, Mapping) and "buckets" in value:
        buckets = [(_le(le), float(count)) for le, count in value["buckets"]]
        if not buckets or buckets[-1][0] != "+Inf":
            total = value.get("count", buckets[-1][1] if buckets else 0)
            buckets.append(("+Inf", float(total)))
        return HistogramMetricFamily(
            f"chinwag_{name}", help_text, buckets=buckets, sum_value=float(value.get("sum", 0))
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if name.endswith("_total"):
        return CounterMetricFamily(f"chinwag_{name[: -len('_total')]}", help_text, value=value)
    if name in KNOWN_COUNTERS:
        return CounterMetricFamily(f"chinwag_{name}", help_text, value=value)
    return GaugeMetricFamily(f"chinwag_{name}", help_text, value=value)


def _le(bound: Any) -> str:
    bound = float(bound)
    return "+Inf" if math.isinf(bound) else repr(bound)


class Metrics:
    """One app's metrics: request counter, latency histogram and runtime callbacks."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "chinwag_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chinwag_http_request_duration_seconds",
            "Time to produce the response head (for SSE: until the stream starts).",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.runtime = RuntimeCollector()
        self.registry.register(self.runtime)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def register_runtime_gauges(self, snapshot: RuntimeSnapshot) -> None:
        """Export the runtime's numbers; `snapshot()` is called on every scrape (keep it cheap)."""
        self.runtime.sources.append(snapshot)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
