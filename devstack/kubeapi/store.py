"""The object store: objects by kind, resourceVersions, the change history, list and watch.

Runs on the server's event loop thread only, so there are no locks around it.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request
from .kinds import ALL_KINDS, BY_PLURAL, Kind
from .meta import Obj, strip_kind
from .selectors import Matcher, parse_field_selector, parse_label_selector

HISTORY_SIZE = 20_000  # watch events kept for resourceVersion resumes; older ones give 410


@dataclass(eq=False)  # identity hash: watchers live in sets
class Watcher:
    kind: Kind
    namespace: str | None
    label: Matcher
    fields: Matcher
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def wants(self, obj: Obj) -> bool:
        return self.label(obj) and self.fields(obj)


@dataclass
class Change:
    rv: int
    kind: Kind
    type: str  # ADDED / MODIFIED / DELETED
    obj: Obj
    old: Obj | None


class Store:
    def __init__(self) -> None:
        self.rv = 0
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {k.plural: {} for k in ALL_KINDS}
        self.history: deque[Change] = deque(maxlen=HISTORY_SIZE)
        self.watchers: dict[str, set[Watcher]] = {k.plural: set() for k in ALL_KINDS}

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        return self.objects[kind.plural].get((namespace, name))

    def _emit(self, kind: Kind, type_: str, obj: Obj, old: Obj | None) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append(Change(rv, kind, type_, obj, old))
        ns = obj["metadata"].get("namespace") or ""
        for w in self.watchers[kind.plural]:
            if w.namespace and w.namespace != ns:
                continue
            event = watch_event(w, type_, obj, old)
            if event:
                w.queue.put_nowait(event)

    def store(self, kind: Kind, obj: Obj, old: Obj | None) -> Obj:
        """Write `obj` (a fresh dict nobody else holds) with a new resourceVersion."""
        obj["metadata"]["resourceVersion"] = str(self.next_rv())
        meta = obj["metadata"]
        self.objects[kind.plural][(meta.get("namespace") or "", meta["name"])] = obj
        self._emit(kind, "ADDED" if old is None else "MODIFIED", obj, old)
        return obj

    def remove(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if self.objects[kind.plural].pop(key, None) is None:
            return obj
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self.next_rv())
        self._emit(kind, "DELETED", gone, obj)
        return gone

    def mutate(self, kind: Kind, obj: Obj, fn: Any) -> Obj | None:
        """Copy-on-write update for server-side changes (pod status, events...)."""
        current = self.get(kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != obj["metadata"]["uid"]:
            return None
        new = copy.deepcopy(current)
        fn(new)
        return self.store(kind, new, current)

    # ------------------------------------------------------------ list / watch

    def select(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> list[Obj]:
        label = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, kind)
        items = self.objects[kind.plural]
        if namespace:
            chosen = [o for (ns, _), o in items.items() if ns == namespace]
        else:
            chosen = list(items.values())
        chosen = [o for o in chosen if label(o) and fields(o)]
        chosen.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return chosen

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        limit: int | None = None,
        cont: str | None = None,
    ) -> Obj:
        items = self.select(kind, namespace, label_selector, field_selector)
        if cont:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(cont.encode())))
            except (ValueError, TypeError) as e:
                raise bad_request("continue key is not valid") from e
            items = [
                o
                for o in items
                if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > after
            ]
        list_meta: Obj = {"resourceVersion": str(self.rv)}
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            key = [last.get("namespace") or "", last["name"]]
            list_meta["continue"] = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
            list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": kind.list_kind,
            "apiVersion": kind.api_version,
            "metadata": list_meta,
            "items": [strip_kind(o) for o in items],
        }

    def open_watch(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        resource_version: str | None,
    ) -> Watcher:
        w = Watcher(
            kind,
            namespace,
            parse_label_selector(label_selector),
            parse_field_selector(field_selector, kind),
        )
        if resource_version in (None, "", "0"):
            # No starting point: synthetic ADDED for the current state, then live changes.
            for obj in self.select(kind, namespace, None, None):
                if w.wants(obj):
                    w.queue.put_nowait(("ADDED", obj))
        else:
            try:
                since = int(resource_version)
            except ValueError as e:
                raise bad_request(f"invalid resource version {resource_version!r}") from e
            oldest = self.history[0].rv if self.history else self.rv + 1
            if since < oldest - 1 and since < self.rv:
                w.queue.put_nowait(("ERROR", _gone(since, oldest)))
                w.queue.put_nowait(None)
                return w
            for ch in self.history:
                if ch.rv <= since or ch.kind is not kind:
                    continue
                if namespace and ch.obj["metadata"].get("namespace") != namespace:
                    continue
                event = watch_event(w, ch.type, ch.obj, ch.old)
                if event:
                    w.queue.put_nowait(event)
        self.watchers[kind.plural].add(w)
        return w

    def close_watch(self, w: Watcher) -> None:
        self.watchers[w.kind.plural].discard(w)

    def close_all_watches(self) -> None:
        for ws in self.watchers.values():
            for w in ws:
                w.queue.put_nowait(None)
            ws.clear()

    def snapshot(self, plural: str, namespace: str | None = None) -> builtins.list[Obj]:
        kind = BY_PLURAL[plural]
        return [copy.deepcopy(o) for o in self.select(kind, namespace, None, None)]


def _gone(since: int, oldest: int) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {since} ({oldest})",
        "reason": "Expired",
        "code": 410,
    }


def watch_event(w: Watcher, type_: str, obj: Obj, old: Obj | None) -> tuple[str, Obj] | None:
    """Translate a change into what this watcher sees, as the real server's filtered watch does:
    an object that starts matching is ADDED, one that stops matching is DELETED."""
    now_match = w.wants(obj)
    if type_ == "MODIFIED" and old is not None:
        was = w.wants(old)
        if was and not now_match:
            return ("DELETED", obj)
        if now_match and not was:
            return ("ADDED", obj)
    if type_ == "DELETED":
        return ("DELETED", obj) if (old is not None and w.wants(old)) or now_match else None
    return (type_, obj) if now_match else None
