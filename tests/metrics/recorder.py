"""A metrics sink for tests: what was recorded, to read back."""

from __future__ import annotations

from collections.abc import Mapping

from shared import metrics


class Recorded:
    def __init__(self) -> None:
        self.items: list[tuple[str, float, dict[str, str]]] = []

    def record(self, metric: metrics.Metric, value: float, labels: Mapping[str, str]) -> None:
        self.items.append((metric.name, value, dict(labels)))

    def of(self, metric: metrics.Metric) -> list[tuple[float, dict[str, str]]]:
        return [(value, labels) for name, value, labels in self.items if name == metric.name]
