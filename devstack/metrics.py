"""The local stack's metrics: the shared catalog kept in a Prometheus registry, served at /metrics.

Every metric of ``shared.metrics.CATALOG`` is registered up front (so ``/metrics`` lists them all,
recorded or not); gauges computed from the store (running workspaces by plan) are refreshed at
each scrape. prometheus-client is imported here only, never by the functions' cold path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram

from shared import metrics
from shared.metrics import Counter, Gauge, Histogram, Metric

log = logging.getLogger("coditect.devstack.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A scrape-time source: the values of one gauge, by label values (a tuple in label order).
GaugeSource = tuple[Gauge, Callable[[], Mapping[tuple[str, ...], float]]]


class PrometheusSink:
    """A ``shared.metrics`` sink keeping every metric in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        self._sources: list[GaugeSource] = []
        self._lock = threading.Lock()
        for metric in metrics.CATALOG.values():
            self._metrics[metric.name] = self._make(metric)

    def _make(self, metric: Metric) -> Any:
        labels = list(metric.labels)
        if isinstance(metric, Histogram):
            return PromHistogram(
                metric.name,
                metric.help,
                labels,
                registry=self.registry,
                buckets=metric.bucket_bounds,
            )
        if isinstance(metric, Counter):
            return PromCounter(metric.name, metric.help, labels, registry=self.registry)
        if isinstance(metric, Gauge):
            return PromGauge(metric.name, metric.help, labels, registry=self.registry)
        raise TypeError(f"no Prometheus type for {metric!r}")

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        target = self._metrics[metric.name]
        child = target.labels(**labels) if metric.labels else target
        if isinstance(metric, Histogram):
            child.observe(value)
        elif isinstance(metric, Counter):
            child.inc(value)
        else:
            child.set(value)

    def add_gauge_source(
        self, gauge: Gauge, read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> None:
        """Compute ``gauge`` with ``read`` at each scrape (label sets it no longer returns go)."""
        self._sources.append((gauge, read))

    def _refresh(self) -> None:
        for gauge, read in self._sources:
            try:
                values = read()
            except Exception:
                log.exception("gauge source failed", extra={"fields": {"metric": gauge.name}})
                continue
            target = self._metrics[gauge.name]
            target.clear()
            for label_values, value in values.items():
                target.labels(*label_values).set(value)

    def exposition(self) -> bytes:
        """The Prometheus text of every metric, gauges computed now."""
        with self._lock:  # two scrapes at once would clear each other's gauges
            self._refresh()
            return generate_latest(self.registry)


def install(stack: Any) -> PrometheusSink:
    """Make the local stack record into a registry, with the store-computed gauges."""
    from shared.workspaces.stats import running_by_plan

    sink = PrometheusSink()
    services = stack.services

    def running() -> dict[tuple[str, ...], float]:
        return {(plan,): float(n) for plan, n in running_by_plan(services.db).items()}

    sink.add_gauge_source(metrics.WORKSPACES_RUNNING, running)
    metrics.use_sinks(sink)
    return sink
