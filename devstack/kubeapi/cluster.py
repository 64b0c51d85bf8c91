"""The API semantics of the real server over the object store: create, read, update, patch,
delete, namespace lifecycle. Everything here runs on the server's event loop thread only.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import uuid
from dataclasses import dataclass
from typing import Any

from . import errors
from .counters import CallCounter
from .defaults import apply_create_defaults
from .errors import bad_request
from .events import EventRecorder
from .faults import FaultBook
from .kinds import ALL_KINDS, BY_PLURAL, NAMESPACE, POD, Kind
from .meta import Obj, now
from .pods import PodSimulator
from .store import Store
from .validation import check_object, check_update, normalize_secret


@dataclass
class Config:
    ready_delay: float = 1.0
    validate: bool = True
    latency: float = 0.0
    namespace_delete_delay: float = 0.2
    pod_delete_grace: float = 0.0
    fault_interval: float | None = None  # between repeated failure events; None: ready_delay
    default_objects: bool = True  # "default" ServiceAccount + kube-root-ca.crt per namespace


class Cluster(Store):
    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.faults = FaultBook()
        self.calls = CallCounter()
        self.events = EventRecorder(self)
        self._service_ips = itertools.count(10)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pods = PodSimulator(self)

    def remove(self, kind: Kind, obj: Obj) -> Obj:
        gone = super().remove(kind, obj)
        if kind is POD:
            self.pods.forget(obj)
        return gone

    def record_event(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str = "kubelet",
        field_path: str | None = None,
    ) -> None:
        self.events.record(obj, type_, reason, message, component, field_path)

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
        self.events.forget_namespace(name)
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
        apply_create_defaults(kind, obj, self, self._service_ips)
        check_object(kind, obj, schema=self.config.validate)
        if self.get(kind, namespace if kind.namespaced else "", name) is not None:
            raise errors.already_exists(kind, name)
        stored = self.store(kind, obj, None)
        self._after_create(kind, stored)
        return stored

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
