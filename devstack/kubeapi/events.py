"""Server-generated core/v1 Events, aggregated like the kubelet's (same event again: count+1)."""

from __future__ import annotations

import time
import uuid

from .kinds import EVENT, NAMESPACE
from .meta import NODE_NAME, Obj, now
from .store import Store


class EventRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: dict[tuple[str, str, str, str], str] = {}
        self._last_ns = 0

    def forget_namespace(self, namespace: str) -> None:
        self._index = {k: v for k, v in self._index.items() if k[0] != namespace}

    def record(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str = "kubelet",
        field_path: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        if self.store.get(NAMESPACE, "", ns) is None:
            return
        key = (ns, meta["uid"], reason, message)
        ts = now()
        existing_name = self._index.get(key)
        existing = self.store.get(EVENT, ns, existing_name) if existing_name else None
        if existing is not None:
            # The kubelet's event aggregation: same event again bumps count/lastTimestamp.
            def bump(e: Obj) -> None:
                e["count"] = int(e.get("count") or 1) + 1
                e["lastTimestamp"] = ts

            self.store.mutate(EVENT, existing, bump)
            return
        # Named like the kubelet's: <object>.<hex nanoseconds>, so name order is time order.
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        name = f"{meta['name']}.{self._last_ns:x}"
        involved: Obj = {
            "kind": obj.get("kind", "Pod"),
            "namespace": ns,
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": obj.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        event: Obj = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": ts,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {"component": component}
            | ({"host": NODE_NAME} if component == "kubelet" else {}),
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": type_,
            "reportingComponent": component,
            "reportingInstance": NODE_NAME if component == "kubelet" else "",
        }
        self.store.store(EVENT, event, None)
        self._index[key] = name
