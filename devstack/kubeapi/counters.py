"""Request counters (verb x resource, and per namespace), read by tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallCounter:
    """Counts API calls; any thread may read or reset it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._ns_counts: Counter[str] = Counter()

    def count(self, verb: str, resource: str, namespace: str | None) -> None:
        with self._lock:
            self._counts[(verb, resource)] += 1
            if namespace:
                self._ns_counts[namespace] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def by_namespace(self) -> dict[str, int]:
        with self._lock:
            return dict(self._ns_counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._ns_counts.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            by_verb: dict[str, dict[str, int]] = {}
            for (verb, resource), n in self._counts.items():
                by_verb.setdefault(verb, {})[resource] = n
            return {
                "total": sum(self._counts.values()),
                "byVerb": by_verb,
                "byNamespace": dict(self._ns_counts),
            }
