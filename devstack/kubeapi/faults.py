"""Injected pod failures: rules that say which pods fail how. Any thread may add or clear them."""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass
from typing import Any

from .meta import FAULT_ANNOTATION, Obj
from .selectors import parse_label_selector

FAULT_MODES = ("image-pull", "crash", "unschedulable", "mount")


@dataclass
class FaultRule:
    """How pods matching this rule fail. count=None means every matching pod."""

    mode: str
    count: int | None = 1
    namespace: str | None = None
    label_selector: str | None = None
    image: str | None = None  # fnmatch pattern against any container image
    id: int = 0

    def matches(self, pod: Obj) -> bool:
        meta = pod["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.label_selector and not parse_label_selector(self.label_selector)(pod):
            return False
        if self.image:
            images = [c.get("image") or "" for c in (pod.get("spec") or {}).get("containers", [])]
            if not any(fnmatch.fnmatchcase(i, self.image) for i in images):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": self.mode,
            "count": self.count,
            "namespace": self.namespace,
            "labelSelector": self.label_selector,
            "image": self.image,
        }


class FaultBook:
    """The active fault rules; a pod takes at most one failure mode when it is created."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {rule.mode!r}; expected one of {FAULT_MODES}")
        with self._lock:
            rule.id = next(self._ids)
            self._faults.append(rule)
        return rule

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, pod: Obj) -> str | None:
        annotated = ((pod["metadata"].get("annotations")) or {}).get(FAULT_ANNOTATION)
        if annotated:
            return annotated if annotated in FAULT_MODES else None
        with self._lock:
            for rule in self._faults:
                if rule.matches(pod):
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self._faults.remove(rule)
                    return rule.mode
        return None
