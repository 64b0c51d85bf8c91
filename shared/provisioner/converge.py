"""Converging a workspace's Kubernetes objects step by step, each step safe to repeat."""

from __future__ import annotations

import logging
import time
from typing import Any

from shared.provisioner import objects as o
from shared.provisioner.base import (
    PermanentError,
    ReconcilerBase,
    Result,
    Superseded,
    TemporaryError,
)
from shared.provisioner.kube import KubeError
from shared.provisioner.theia import WorkspaceGone, workspace_settings
from shared.workspaces import model
from shared.workspaces.model import WorkspaceRecord

log = logging.getLogger("coditect.provisioner")
Obj = dict[str, Any]


def _contains(current: Any, wanted: Any) -> bool:
    """True when every field we set is on the live object (server defaults may add more)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            _contains(current.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(_contains(c, w) for c, w in zip(current, wanted, strict=True))
        )
    return current == wanted or str(current) == str(wanted)


_OWNED_FIELDS = {
    "ServiceAccount": ("automountServiceAccountToken",),
    "ResourceQuota": ("spec",),
    "LimitRange": ("spec",),
    "NetworkPolicy": ("spec",),
    "Secret": ("data",),
    "Service": ("spec",),
    "Ingress": ("spec",),
}


def _keep_meta(current: Obj) -> Obj:
    meta = current["metadata"]
    return {k: meta[k] for k in ("resourceVersion", "annotations") if k in meta}


class Converger(ReconcilerBase):
    # == converge =================================================================================
    def _converge(self, ws: WorkspaceRecord, token: str) -> Result:
        if ws["desired"] == "running":
            return self._ensure_running(ws, token)
        if ws["desired"] == "stopped":
            self._remove_compute(ws)
            return Result("stopped", None, ["compute removed; the disk is kept", "stopped"])
        self._remove_compute(ws)
        names = o.Names.of(ws["user_id"], ws["workspace_id"])
        self._delete("Secret", names.namespace, names.secret)
        for retired in names.retired_secrets:
            self._delete("Secret", names.namespace, retired)
        # cert-manager's certificate for the workspace host: it outlives the Ingress (cert-manager
        # leaves it unless told otherwise), so it is removed here or it would be orphaned.
        self._delete("Secret", names.namespace, names.tls_secret)
        self._delete("PersistentVolumeClaim", names.namespace, names.pvc)
        return Result("deleted", None, ["compute, secrets and disk removed", "deleted"])

    def _delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            self.kube.delete(kind, namespace, name)
        except KubeError as error:
            raise TemporaryError(f"deleting {kind} {name}: {error}") from error

    def _remove_compute(self, ws: WorkspaceRecord) -> None:
        names = o.Names.of(ws["user_id"], ws["workspace_id"])
        for kind in ("Ingress", "Service", "Pod"):
            self._delete(kind, names.namespace, names.slug)

    def _fail(self, ws: WorkspaceRecord, reason: str) -> Result:
        if ws["desired"] == "running":
            self._remove_compute(ws)  # no pod left behind; a TemporaryError here retries
        return Result("failed", reason, [f"failed: {reason}"])

    def _ensure(self, body: Obj, labels: dict[str, str]) -> tuple[Obj, bool]:
        """Create, or adopt the existing object if it is ours; returns (object, created)."""
        kind, meta = body["kind"], body["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        try:
            return self.kube.create(body), True
        except KubeError as error:
            if error.terminating:
                raise TemporaryError(f"namespace {namespace} is terminating; waiting") from error
            if error.status in (400, 422):
                raise PermanentError(f"{kind} {name} was rejected: {error.message}") from error
            if error.reason != "AlreadyExists":
                raise TemporaryError(f"creating {kind} {name}: {error}") from error
        if kind == "Secret":
            return self._overwrite_secret(body), False
        try:
            current = self.kube.get(kind, namespace, name)
        except KubeError as error:
            raise TemporaryError(f"reading {kind} {name}: {error}") from error
        if current is None:
            raise TemporaryError(f"{kind} {name} vanished while being adopted")
        if not o.is_ours(current, labels):
            raise PermanentError(
                f"{kind} {name} already exists and is not managed by Coditect for this "
                "workspace; not adopting it"
            )
        fields = _OWNED_FIELDS.get(kind, ())
        if any(not _contains(current.get(f), body.get(f)) for f in fields):
            update = {**body, "metadata": {**meta, **_keep_meta(current)}}
            try:
                current = self.kube.replace(update)
            except KubeError as error:
                raise TemporaryError(f"updating {kind} {name}: {error}") from error
        return current, False

    def _overwrite_secret(self, body: Obj) -> Obj:
        """The provisioner may not read Secrets (docs/deploy.md): an existing one is replaced
        whole, unconditionally. The admission policy admits that only for an object that
        already carries our labels, so a 403 means the Secret is not ours."""
        name = body["metadata"]["name"]
        try:
            return self.kube.replace(body)
        except KubeError as error:
            if error.status == 403:
                raise PermanentError(
                    f"Secret {name} already exists and is not managed by Coditect for this "
                    "workspace; not adopting it"
                ) from error
            raise TemporaryError(f"replacing Secret {name}: {error}") from error

    def _ensure_running(self, ws: WorkspaceRecord, token: str) -> Result:
        started = time.monotonic()
        uid, tid, wid = ws["user_id"], ws["tenant_id"], ws["workspace_id"]
        names = o.Names.of(uid, wid)
        user_labels = o.owner_labels(uid, tid)
        ns, _ = self._ensure(o.make_namespace(names.namespace, user_labels), user_labels)
        if ns["metadata"].get("deletionTimestamp"):
            raise TemporaryError(f"namespace {names.namespace} is terminating; waiting")
        notes: list[str] = []
        marker = o.setup_marker(ws["plan"], self.settings)
        from shared.plans import plan as plan_named
        from shared.workspaces.config import disk_gb

        plan = plan_named(ws["plan"])
        user_bodies = o.user_objects(
            ws,
            self.settings,
            running=plan.limits.running_workspaces,
            storage_gb=plan.limits.storage_gb,
            volumes=plan.limits.storage_gb // disk_gb(plan),
        )
        if (ns["metadata"].get("annotations") or {}).get(o.A_SETUP) != marker:
            for body in user_bodies:
                self._ensure(body, user_labels)
            try:
                self.kube.merge_patch(
                    "Namespace",
                    None,
                    names.namespace,
                    {"metadata": {"annotations": {o.A_SETUP: marker}}},
                )
            except KubeError as error:
                raise TemporaryError(f"marking namespace {names.namespace}: {error}") from error
            notes.append(f"namespace {names.namespace} set up (quota, limits, network policy)")
        else:
            # The isolation policy is looked at on every start even in a set-up namespace (two
            # calls): a workspace never runs without it, whoever removed or changed it.
            for body in user_bodies:
                if body["kind"] == "NetworkPolicy":
                    self._ensure(body, user_labels)
        token_record = self.db.transact(
            lambda tr: model.load(tr.get(model.secret_key(tid, uid, wid)))
        )
        if not token_record:
            raise PermanentError("the workspace's activity credential is missing")
        theia_settings = self._theia_settings(ws)
        ws_labels = o.owner_labels(uid, tid, wid)
        pod: Obj | None = None
        for body in o.workspace_objects(
            ws,
            self.settings,
            activity_token=token_record["activity_token"],
            public_url=self.public_url,
            issuer=self.issuer,
            theia_settings=theia_settings,
        ):
            if body["kind"] == "Pod":
                pod = self._ensure_pod(body, ws_labels, ws, token, started)
            else:
                self._ensure(body, ws_labels)
        assert pod is not None
        notes.append("disk, pod, service and ingress requested; waiting for the pod")
        self._note(ws, notes)
        return self._wait_ready(ws, token, pod, started)

    def _theia_settings(self, ws: WorkspaceRecord) -> Obj:
        """Theia's settings: the tenant's current plan's models, the workspace's LLM key."""
        try:
            secret = self.llm.key_secret()
        except LookupError as error:  # production never makes the secret: Terraform declares it
            raise PermanentError(f"no LLM key derivation secret: {error}") from error
        except Exception as error:  # Secret Manager unreachable: a retry can fix it
            raise TemporaryError(f"reading the LLM key derivation secret: {error}") from error
        try:
            return workspace_settings(self.db, secret, self.llm.gateway_url, ws, self.clock.now())
        except WorkspaceGone:
            raise Superseded from None

    def _ensure_pod(
        self, body: Obj, labels: dict[str, str], ws: WorkspaceRecord, token: str, started: float
    ) -> Obj:
        for _ in range(3):
            pod, created = self._ensure(body, labels)
            if created:
                return pod
            meta, phase = pod["metadata"], (pod.get("status") or {}).get("phase")
            if meta.get("deletionTimestamp"):
                self._wait_gone(ws, token, pod, started)  # the last run's pod is still going
                continue
            if phase in ("Failed", "Succeeded"):
                self._delete("Pod", meta["namespace"], meta["name"])
                self._wait_gone(ws, token, pod, started)
                continue
            return pod
        raise TemporaryError("the pod kept being replaced")

    def _wait_gone(self, ws: WorkspaceRecord, token: str, pod: Obj, started: float) -> None:
        meta = pod["metadata"]
        stream = self.kube.watch(
            "Pod",
            meta["namespace"],
            field_selector=f"metadata.name={meta['name']}",
            resource_version=meta.get("resourceVersion"),
            timeout_seconds=int(self._remaining(started)),
        )
        try:
            if self.kube.get("Pod", meta["namespace"], meta["name"]) is None:
                return
            for kind, obj in stream:
                if kind == "DELETED" and obj["metadata"]["uid"] == meta["uid"]:
                    return
        finally:
            stream.close()
        self._check(ws, token, renew=True)
        raise TemporaryError("the previous pod is still terminating")

    # -- waiting for Ready -----------------------------------------------------------------------
