"""In-memory cluster state and the API semantics of the real server.

Everything here runs on the server's event loop thread only, so there are no locks around the
store; the few things other threads touch (fault rules, counters) have their own lock.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import fnmatch
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import errors
from .errors import ApiError, bad_request
from .kinds import ALL_KINDS, BY_PLURAL, EVENT, NAMESPACE, POD, Kind
from .selectors import Matcher, parse_field_selector, parse_label_selector
from .validation import check_object, check_update, normalize_secret

Obj = dict[str, Any]

FAULT_ANNOTATION = "standin.coditect.dev/fail"
READY_DELAY_ANNOTATION = "standin.coditect.dev/ready-delay"
FAULT_MODES = ("image-pull", "crash", "unschedulable", "mount")
NODE_NAME = "standin-node-1"
HISTORY_SIZE = 20_000  # watch events kept for resourceVersion resumes; older ones give 410


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_kind(obj: Obj) -> Obj:
    # List items from the real server carry no kind/apiVersion.
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


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


@dataclass
class Config:
    ready_delay: float = 1.0
    validate: bool = True
    latency: float = 0.0
    namespace_delete_delay: float = 0.2
    pod_delete_grace: float = 0.0
    fault_interval: float | None = None  # between repeated failure events; None: ready_delay
    default_objects: bool = True  # "default" ServiceAccount + kube-root-ca.crt per namespace


class Cluster:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rv = 0
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {k.plural: {} for k in ALL_KINDS}
        self.history: deque[Change] = deque(maxlen=HISTORY_SIZE)
        self.watchers: dict[str, set[Watcher]] = {k.plural: set() for k in ALL_KINDS}
        self._lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self._fault_ids = itertools.count(1)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.ns_counts: Counter[str] = Counter()
        self._ip = itertools.count(10)
        self._event_index: dict[tuple[str, str, str, str], str] = {}
        self._event_ns = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        from .pods import PodSimulator  # late import: pods imports this module

        self.pods = PodSimulator(self)

    # ------------------------------------------------------------ counters / faults (any thread)

    def count(self, verb: str, resource: str, namespace: str | None) -> None:
        with self._lock:
            self.counts[(verb, resource)] += 1
            if namespace:
                self.ns_counts[namespace] += 1

    def add_fault(self, rule: FaultRule) -> FaultRule:
        if rule.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {rule.mode!r}; expected one of {FAULT_MODES}")
        with self._lock:
            rule.id = next(self._fault_ids)
            self._faults.append(rule)
        return rule

    def counts_snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.counts)

    def ns_counts_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.ns_counts)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.ns_counts.clear()

    def counters_json(self) -> dict[str, Any]:
        with self._lock:
            by_verb: dict[str, dict[str, int]] = {}
            for (verb, resource), n in self.counts.items():
                by_verb.setdefault(verb, {})[resource] = n
            return {
                "total": sum(self.counts.values()),
                "byVerb": by_verb,
                "byNamespace": dict(self.ns_counts),
            }

    def list_faults(self) -> list[FaultRule]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, pod: Obj) -> str | None:
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

    # ------------------------------------------------------------ store primitives

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
        if kind is POD:
            self.pods.forget(obj)
        return gone

    def mutate(self, kind: Kind, obj: Obj, fn: Any) -> Obj | None:
        """Copy-on-write update for server-side changes (pod status, events...)."""
        current = self.get(kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != obj["metadata"]["uid"]:
            return None
        new = copy.deepcopy(current)
        fn(new)
        return self.store(kind, new, current)

    # ------------------------------------------------------------ namespaces

    def _require_namespace(self, kind: Kind, namespace: str, name: str, creating: bool) -> None:
        if not kind.namespaced:
            return
        ns = self.get(NAMESPACE, "", namespace)
        if ns is None:
            raise errors.not_found(NAMESPACE, namespace)
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden_terminating(kind, name, namespace)

    def _finalize_namespace(self, name: str, uid: str) -> None:
        ns = self.get(NAMESPACE, "", name)
        if ns is None or ns["metadata"]["uid"] != uid:
            return
        for kind in ALL_KINDS:
            if kind.namespaced:
                for (ons, _), obj in list(self.objects[kind.plural].items()):
                    if ons == name:
                        self.remove(kind, obj)
        self._event_index = {k: v for k, v in self._event_index.items() if k[0] != name}
        self.remove(NAMESPACE, ns)

    # ------------------------------------------------------------ API verbs

    def _prepare_new(self, kind: Kind, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        self._check_type(kind, obj)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj

    @staticmethod
    def _check_type(kind: Kind, obj: Obj) -> None:
        # The real server defaults kind/apiVersion from the URL when the body omits them.
        api_version = obj.setdefault("apiVersion", kind.api_version)
        obj_kind = obj.setdefault("kind", kind.kind)
        if api_version != kind.api_version or obj_kind != kind.kind:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({kind.api_version})"
                if api_version != kind.api_version
                else f"the kind in the data ({obj_kind}) does not match the expected kind "
                f"({kind.kind})"
            )

    def create(self, kind: Kind, namespace: str, body: Any) -> Obj:
        obj = self._prepare_new(kind, namespace, body)
        meta = obj["metadata"]
        if not meta.get("name"):
            gen = meta.get("generateName")
            if not gen:
                raise errors.invalid(
                    kind,
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
            meta["name"] = gen[:58] + suffix
        name = meta["name"]
        self._require_namespace(kind, namespace, name, creating=True)
        for k in (
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if "spec" in obj and kind is not NAMESPACE:
            meta["generation"] = 1
        self._defaults_on_create(kind, obj)
        check_object(kind, obj, schema=self.config.validate)
        if self.get(kind, namespace if kind.namespaced else "", name) is not None:
            raise errors.already_exists(kind, name)
        stored = self.store(kind, obj, None)
        self._after_create(kind, stored)
        return stored

    def _defaults_on_create(self, kind: Kind, obj: Obj) -> None:
        p = kind.plural
        meta = obj["metadata"]
        if p == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif p == "pods":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec.setdefault("serviceAccount", spec["serviceAccountName"])
            spec.setdefault("securityContext", {})
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
            spec.setdefault("priority", 0)
            for c in spec.get("containers") or []:
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault(
                    "imagePullPolicy",
                    "Always"
                    if str(c.get("image", "")).endswith(":latest")
                    or ":" not in str(c.get("image", "")).rsplit("/", 1)[-1]
                    else "IfNotPresent",
                )
                c.setdefault("resources", {})
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
            # ServiceAccount admission: the pod's service account must exist (403 otherwise).
            sa = spec["serviceAccountName"]
            if self.get(BY_PLURAL["serviceaccounts"], meta["namespace"], sa) is None:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'pods "{meta["name"]}" is forbidden: error looking up service account '
                    f'{meta["namespace"]}/{sa}: serviceaccount "{sa}" not found',
                    {"name": meta["name"], "kind": "pods"},
                )
        elif p == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                n = next(self._ip)
                spec["clusterIP"] = f"10.96.{(n // 250) % 250}.{n % 250 + 1}"
            if spec.get("clusterIP"):
                spec["clusterIPs"] = [spec["clusterIP"]]
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            obj["status"] = {"loadBalancer": {}}
        elif p == "persistentvolumeclaims":
            spec = obj.setdefault("spec", {})
            spec.setdefault("volumeMode", "Filesystem")
            spec.setdefault("storageClassName", "standard-rwo")
            obj["status"] = {"phase": "Pending"}
        elif p == "resourcequotas":
            hard = (obj.get("spec") or {}).get("hard") or {}
            obj["status"] = {"hard": dict(hard), "used": dict.fromkeys(hard, "0")}
        elif p == "ingresses":
            obj["status"] = {"loadBalancer": {}}
        elif p == "secrets":
            obj.setdefault("type", "Opaque")
            normalize_secret(obj)
        elif p == "events":
            obj.setdefault("count", 1)
            obj.setdefault("type", "Normal")
        elif kind.status_subresource:
            obj.pop("status", None)

    def _after_create(self, kind: Kind, obj: Obj) -> None:
        p = kind.plural
        if p == "namespaces" and self.config.default_objects:
            # The service-account and root-CA controllers do this on a real cluster.
            ns = obj["metadata"]["name"]
            for k, body in (
                ("serviceaccounts", {"metadata": {"name": "default"}}),
                (
                    "configmaps",
                    {
                        "metadata": {
                            "name": "kube-root-ca.crt",
                            "annotations": {
                                "kubernetes.io/description": "Contains a CA bundle that can be "
                                "used to verify the kube-apiserver when using internal endpoints "
                                "such as the internal service IP or kubernetes.default.svc. "
                            },
                        },
                        "data": {
                            "ca.crt": "-----BEGIN CERTIFICATE-----\nstandin\n"
                            "-----END CERTIFICATE-----\n"
                        },
                    },
                ),
            ):
                self.create(BY_PLURAL[k], ns, body)
        elif p == "pods":
            self.pods.start(obj)
        elif p == "persistentvolumeclaims":
            # Bound at once: the stand-in has a dynamic provisioner with Immediate binding.
            def bind(o: Obj) -> None:
                o["spec"]["volumeName"] = f"pvc-{o['metadata']['uid']}"
                o["status"] = {
                    "phase": "Bound",
                    "accessModes": o["spec"].get("accessModes", []),
                    "capacity": {"storage": o["spec"]["resources"]["requests"]["storage"]},
                }

            self.mutate(kind, obj, bind)

    def read(self, kind: Kind, namespace: str, name: str) -> Obj:
        # A real server says the *object* is not found even when its namespace is missing.
        obj = self.get(kind, namespace if kind.namespaced else "", name)
        if obj is None:
            raise errors.not_found(kind, name)
        return obj

    def replace(
        self, kind: Kind, namespace: str, name: str, body: Any, *, subresource: str = ""
    ) -> Obj:
        old = self.read(kind, namespace, name)
        new = self._prepare_new(kind, namespace, body)
        meta = new["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        return self._update(kind, old, new, subresource)

    def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str = "",
    ) -> Obj:
        from .patching import apply_patch

        old = self.read(kind, namespace, name)
        new = apply_patch(content_type, copy.deepcopy(old), body)
        self._check_type(kind, new)
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name") != name or (
            kind.namespaced and meta.get("namespace") != old["metadata"]["namespace"]
        ):
            raise bad_request("the name or namespace of the object may not be changed by a patch")
        # A resourceVersion in the patch acts as a precondition, like on the real server;
        # otherwise the stored one is implied.
        if not (isinstance(body, dict) and "resourceVersion" in (body.get("metadata") or {})):
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self._update(kind, old, new, subresource)

    def _update(self, kind: Kind, old: Obj, new: Obj, subresource: str) -> Obj:
        meta, old_meta = new["metadata"], old["metadata"]
        name = old_meta["name"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta["resourceVersion"]:
            raise errors.conflict(
                kind,
                name,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise errors.conflict(
                kind,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta['uid']}",
            )
        # Server-owned metadata is never taken from the client.
        for k in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if subresource == "status":
            # /status writes change only the status; everything else stays.
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif kind.status_subresource:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if kind.plural == "namespaces":
            new["spec"] = copy.deepcopy(old.get("spec") or {})
            new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        elif kind.plural == "services":
            spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
            for k in ("clusterIP", "clusterIPs"):
                if not spec.get(k) and old_spec.get(k):
                    spec[k] = old_spec[k]
        elif kind.plural == "secrets":
            new.setdefault("type", old.get("type", "Opaque"))
            normalize_secret(new)
        check_update(kind, old, new)
        if (new.get("spec") != old.get("spec")) and "generation" in old_meta:
            new["metadata"]["generation"] = old_meta["generation"] + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:  # no-op writes do not bump resourceVersion on the real server either
            return old
        check_object(kind, new, schema=self.config.validate)
        return self.store(kind, new, old)

    def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        options: Obj | None = None,
        grace_param: int | None = None,
    ) -> Obj:
        obj = self.read(kind, namespace, name)
        options = options or {}
        pre = options.get("preconditions") or {}
        meta = obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(
                kind,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                f"object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(
                kind,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
            )
        if kind is NAMESPACE:
            return self._delete_namespace(obj)
        grace = options.get("gracePeriodSeconds", grace_param)
        if kind is POD and self.config.pod_delete_grace > 0 and grace != 0:
            if meta.get("deletionTimestamp"):
                return obj

            def terminating(o: Obj) -> None:
                o["metadata"]["deletionTimestamp"] = now()
                o["metadata"]["deletionGracePeriodSeconds"] = int(
                    grace
                    if grace is not None
                    else o["spec"].get("terminationGracePeriodSeconds", 30)
                )

            marked = self.mutate(kind, obj, terminating)
            assert marked is not None
            self.pods.forget(obj)
            self._later(self.config.pod_delete_grace, self._remove_if_same, kind, marked)
            return marked
        gone = self.remove(kind, obj)
        if kind.delete_returns_object:
            return gone
        details: Obj = {"name": name, "kind": kind.plural, "uid": meta["uid"]}
        if kind.group:
            details["group"] = kind.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _remove_if_same(self, kind: Kind, obj: Obj) -> None:
        cur = self.get(kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        if cur is not None and cur["metadata"]["uid"] == obj["metadata"]["uid"]:
            self.remove(kind, cur)

    def _delete_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            # What kubectl shows when you delete a namespace that is already terminating.
            raise errors.conflict(
                NAMESPACE,
                name,
                "The system is ensuring all content is removed from this namespace.  Upon "
                "completion, this namespace will automatically be purged by the system.",
            )

        def terminating(o: Obj) -> None:
            o["metadata"]["deletionTimestamp"] = now()
            o["status"] = {"phase": "Terminating"}

        marked = self.mutate(NAMESPACE, ns, terminating)
        assert marked is not None
        self._later(
            self.config.namespace_delete_delay,
            self._finalize_namespace,
            name,
            ns["metadata"]["uid"],
        )
        return marked

    def _later(self, delay: float, fn: Any, *args: Any) -> None:
        assert self.loop is not None
        if delay <= 0:
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_later(delay, fn, *args)

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
            "items": [_strip_kind(o) for o in items],
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

    # ------------------------------------------------------------ events (server-generated)

    def record_event(
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
        if self.get(NAMESPACE, "", ns) is None:
            return
        key = (ns, meta["uid"], reason, message)
        ts = now()
        existing_name = self._event_index.get(key)
        existing = self.get(EVENT, ns, existing_name) if existing_name else None
        if existing is not None:
            # The kubelet's event aggregation: same event again bumps count/lastTimestamp.
            def bump(e: Obj) -> None:
                e["count"] = int(e.get("count") or 1) + 1
                e["lastTimestamp"] = ts

            self.mutate(EVENT, existing, bump)
            return
        # Named like the kubelet's: <object>.<hex nanoseconds>, so name order is time order.
        self._event_ns = max(time.time_ns(), self._event_ns + 1)
        name = f"{meta['name']}.{self._event_ns:x}"
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
        self.store(EVENT, event, None)
        self._event_index[key] = name

    def snapshot(self, plural: str, namespace: str | None = None) -> list[Obj]:
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


def _qos_class(spec: Obj) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    reqs, lims = [], []
    for c in containers:
        r = c.get("resources") or {}
        reqs.append(r.get("requests") or {})
        lims.append(r.get("limits") or {})
    if not any(reqs) and not any(lims):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and (
            not req
            or (
                req.get("cpu", lim["cpu"]) == lim["cpu"]
                and req.get("memory", lim["memory"]) == lim["memory"]
            )
        )
        for req, lim in zip(reqs, lims, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"
