"""The reconciler: read a workspace's desired state, look at the cluster, converge (principle 1).

A message only names the workspace. Each invocation:

1. claims the workspace in one transaction — drops the message if it is stale (older generation),
   a duplicate (this generation already settled) or the workspace is being converged by a live
   lease holder (which re-reads the desired state before it lets go, so it takes this change too);
2. converges step by step, each step safe to repeat: create, and on AlreadyExists read the object
   and adopt it only if its labels say it is this workspace's (otherwise fail with the reason);
   404 on delete is done; a Terminating namespace is waited out, never written into;
3. for a start, waits for the pod by watching it (and its events, for progress), failing fast on
   ImagePullBackOff, CrashLoopBackOff and repeated FailedMount, tolerating FailedScheduling until
   the start deadline; on failure the compute is removed and the status says why;
4. records the outcome and releases the lease in one transaction, unless the desired state
   changed meanwhile, in which case it converges again.

Errors a retry can fix raise :class:`TemporaryError` (Pub/Sub redelivers with backoff); permanent
ones are recorded on the workspace and the message is acknowledged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.clock import Clock
from shared.events import PubSubMessage
from shared.provisioner import objects as o
from shared.provisioner.kube import KubeError, KubeGateway
from shared.store import Database, Transaction
from shared.workspaces import hours, model
from shared.workspaces.config import WorkspaceSettings

log = logging.getLogger("coditect.provisioner")
Obj = dict[str, Any]

# Container waiting reasons a retry will not cure: fail the start at once.
FATAL_WAITING = {
    "ImagePullBackOff": "the image could not be pulled",
    "InvalidImageName": "the image name is invalid",
    "ErrImageNeverPull": "the image is not on the node",
    "CrashLoopBackOff": "a container keeps crashing",
    "CreateContainerConfigError": "a container could not be configured",
}
# Pod events are written to the store in batches at most this often (each write is a commit).
PROGRESS_FLUSH_SECONDS = 1.0


class TemporaryError(Exception):
    """A retry can fix it: raised so Pub/Sub redelivers the message with backoff."""


class PermanentError(Exception):
    """A retry cannot fix it: recorded on the workspace; the message is acknowledged."""


class Hooks(Protocol):
    """The local stack's seam: give a ready workspace its URL, hear about settled states."""

    def workspace_url(self, ws: dict[str, Any]) -> str | None: ...

    def on_status(self, ws: dict[str, Any], status: str) -> None: ...


@dataclass
class Result:
    status: str
    reason: str | None = None
    messages: list[str] = field(default_factory=list)


class Superseded(Exception):
    """The desired state changed while converging: converge again to the new one."""


class LeaseLost(Exception):
    """Another invocation took the workspace over (this one stalled past its lease)."""


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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


class Reconciler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        kube: KubeGateway,
        settings: WorkspaceSettings,
        *,
        public_url: str,
        issuer: str,
        hooks: Hooks | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.clock = clock
        self.kube = kube
        self.settings = settings
        self.public_url = public_url
        self.issuer = issuer
        self.hooks = hooks
        self._wall = wall_clock

    # == entry ====================================================================================
    def handle(self, message: PubSubMessage) -> str:
        """Process one reconcile message; returns what happened, raises to get a redelivery."""
        data = message.data
        tid, wid = data.get("tenant_id"), data.get("workspace_id")
        fields = {"workspace_id": wid, "message_id": message.message_id}
        if not (isinstance(tid, str) and isinstance(wid, str) and tid and wid):
            log.error("reconcile message without ids; dropped", extra={"fields": fields})
            return "invalid"
        published = _ts(message.publish_time)
        if published and self._wall() - published > self.settings.max_message_age_seconds:
            log.warning("reconcile message too old; dropped", extra={"fields": fields})
            return "expired"
        uid = data.get("user_id")
        if not isinstance(uid, str) or not uid:
            ids = self.db.transact(lambda tr: model.owner(tr, wid))
            if ids is None or ids["tenant_id"] != tid:
                return "unknown"
            uid = ids["user_id"]
        generation = data.get("generation")
        try:
            outcome = self.reconcile(
                tid,
                uid,
                wid,
                generation if isinstance(generation, int) else None,
                resync=data.get("resync") is True,
            )
        except Exception as error:
            fields.update(attempt=message.delivery_attempt, error=str(error)[:300])
            if message.delivery_attempt >= self.settings.max_attempts:
                log.error("reconcile failed on the last attempt", extra={"fields": fields})
                self._give_up(tid, uid, wid, error, message.delivery_attempt)
            else:
                log.warning("reconcile failed; will be retried", extra={"fields": fields})
            raise
        log.info("reconciled", extra={"fields": {**fields, "outcome": outcome}})
        return outcome

    # == the loop =================================================================================
    def reconcile(
        self, tid: str, uid: str, wid: str, generation: int | None = None, *, resync: bool = False
    ) -> str:
        """Converge one workspace; ``resync`` re-checks the cluster even if already settled."""
        token = uuid.uuid4().hex
        claimed = self.db.transact(self._claim, tid, uid, wid, generation, token, resync)
        if isinstance(claimed, str):
            return claimed
        ws: dict[str, Any] = claimed
        while True:
            try:
                try:
                    result: Result | None = self._converge(ws, token)
                except PermanentError as error:
                    result = self._fail(ws, str(error))
            except Superseded:
                result = None
            except LeaseLost:
                return "lease_lost"
            except BaseException as error:
                self.db.transact(self._release, ws, token, [f"will retry: {error}"[:300]])
                raise
            finished = self.db.transact(self._finish, ws, token, result)
            if finished == "lost":
                return "lease_lost"
            if isinstance(finished, dict):
                ws = finished  # the desired state moved on: converge to the new one
                continue
            if self.hooks is not None and result is not None:
                try:
                    self.hooks.on_status(ws, result.status)
                except Exception:
                    log.exception("status hook failed", extra={"fields": {"workspace_id": wid}})
            return result.status if result else "superseded"

    # == store transactions (no side effects: they may run more than once) ========================
    def _claim(
        self,
        tr: Transaction,
        tid: str,
        uid: str,
        wid: str,
        generation: int | None,
        token: str,
        resync: bool,
    ) -> Any:
        now = self.clock.now()
        ws = model.get(tr, tid, uid, wid)
        if ws is None:
            return "unknown"
        if generation is not None and generation < ws["generation"]:
            return "stale"
        settled = ws["observed_generation"] >= ws["generation"] and ws["status"] in model.SETTLED
        if settled and (not resync or ws["status"] in ("deleted", "failed")):
            return "duplicate"
        lease = model.load(tr.get(model.lease_key(tid, uid, wid)))
        if lease and lease["holder"] != token and lease["expires"] > now:
            return "busy"
        tr.set(
            model.lease_key(tid, uid, wid),
            model.dump({"holder": token, "expires": now + self.settings.lease_seconds}),
        )
        if ws["status"] == "pending":
            new = dict(ws, status="provisioning")
            model.save(tr, new, ws, now)
            ws = new
        model.add_progress(tr, ws, now, [f"provisioner: converging to {ws['desired']}"])
        # In memory only: when this invocation took the work up (the start deadline counts from
        # here too, so a start whose message was lost and re-sent later gets its full time).
        return dict(ws, claimed_at=now)

    def _lease_ok(self, tr: Transaction, ws: dict[str, Any], token: str) -> bool:
        lease = model.load(
            tr.get(model.lease_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"]))
        )
        return bool(lease) and lease["holder"] == token

    def _release(
        self, tr: Transaction, ws: dict[str, Any], token: str, messages: list[str]
    ) -> None:
        if self._lease_ok(tr, ws, token):
            tr.clear(model.lease_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"]))
        model.add_progress(tr, ws, self.clock.now(), messages)

    def _finish(
        self, tr: Transaction, ws: dict[str, Any], token: str, result: Result | None
    ) -> Any:
        now = self.clock.now()
        ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])
        if not self._lease_ok(tr, ws, token):
            return "lost"
        current = model.get(tr, *ids)
        if current is None:
            tr.clear(model.lease_key(*ids))
            return "gone"
        if current["generation"] != ws["generation"] or result is None:
            tr.set(
                model.lease_key(*ids),
                model.dump({"holder": token, "expires": now + self.settings.lease_seconds}),
            )
            if result is not None:
                model.add_progress(tr, current, now, result.messages)
            return current
        new = dict(current, status=result.status, reason=result.reason)
        new["observed_generation"] = current["generation"]
        starts_running = False
        if result.status == "ready":
            new["url"] = self._url(current)
            if new.get("running_since") is None:
                new["running_since"] = now
                starts_running = True
        elif result.status == "failed":
            new["url"] = None
            model.end_running(tr, new, now)
        elif result.status == "deleted":
            tr.clear(model.secret_key(*ids))
        model.save(tr, new, current, now)
        if starts_running:
            # One more workspace using hours: the user's hours may run out sooner.
            hours.reschedule(tr, ws["tenant_id"], ws["user_id"], now)
        model.add_progress(tr, new, now, result.messages)
        tr.clear(model.lease_key(*ids))
        return True

    def _give_up(self, tid: str, uid: str, wid: str, error: BaseException, attempts: int) -> None:
        """The last attempt failed: remove the compute (no pod left behind) and record why.

        Done under a lease of its own, so a newer request already being converged by another
        invocation is left alone (its pod is not ours to remove).
        """
        token = uuid.uuid4().hex

        def claim(tr: Transaction) -> Any:
            ws = model.get(tr, tid, uid, wid)
            if ws is None or ws["status"] in model.SETTLED:
                return None
            now = self.clock.now()
            lease = model.load(tr.get(model.lease_key(tid, uid, wid)))
            if lease and lease["expires"] > now:
                return None
            expires = now + self.settings.lease_seconds
            tr.set(
                model.lease_key(tid, uid, wid), model.dump({"holder": token, "expires": expires})
            )
            return ws

        def write(tr: Transaction, ws: dict[str, Any], left: str) -> None:
            if not self._lease_ok(tr, ws, token):
                return
            tr.clear(model.lease_key(tid, uid, wid))
            current = model.get(tr, tid, uid, wid)
            if current is None or current["generation"] != ws["generation"]:
                return  # asked again meanwhile: that request's message converges it
            now = self.clock.now()
            reason = f"gave up after {attempts} attempts: {error}"[:300]
            new = dict(current, status="failed", reason=reason, url=None)
            new["observed_generation"] = current["generation"]
            model.end_running(tr, new, now)
            model.save(tr, new, current, now)
            model.add_progress(tr, new, now, [reason, *([left] if left else [])])

        try:
            ws = self.db.transact(claim)
            if ws is None:
                return
            left = ""
            try:
                self._remove_compute(ws)
            except Exception as removal:
                # Still recorded as failed; idle cleanup stops failed workspaces later, and that
                # stop removes the compute then.
                left = f"the pod could not be removed yet: {removal}"[:300]
            self.db.transact(write, ws, left)
        except Exception:
            log.exception("could not record the failure", extra={"fields": {"workspace_id": wid}})

    def _url(self, ws: dict[str, Any]) -> str:
        if self.hooks is not None:
            url = self.hooks.workspace_url(ws)
            if url:
                return url
        return f"{self.settings.url_scheme}://{o.workspace_host(ws['workspace_id'], self.settings)}"

    def _note(self, ws: dict[str, Any], messages: list[str]) -> None:
        if messages:
            self.db.transact(
                lambda tr: model.add_progress(tr, ws, self.clock.now(), list(messages))
            )

    def _check(self, ws: dict[str, Any], token: str, renew: bool) -> None:
        """Between waits: raise if the desired state moved on or the lease was taken."""
        ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])

        def look(tr: Transaction) -> str:
            if not self._lease_ok(tr, ws, token):
                return "lost"
            current = model.get(tr, *ids)
            if current is None or current["generation"] != ws["generation"]:
                return "superseded"
            if renew:
                expires = self.clock.now() + self.settings.lease_seconds
                tr.set(model.lease_key(*ids), model.dump({"holder": token, "expires": expires}))
            return "ok"

        state = self.db.transact(look)
        if state == "lost":
            raise LeaseLost
        if state == "superseded":
            raise Superseded

    # == converge =================================================================================
    def _converge(self, ws: dict[str, Any], token: str) -> Result:
        if ws["desired"] == "running":
            return self._ensure_running(ws, token)
        if ws["desired"] == "stopped":
            self._remove_compute(ws)
            return Result("stopped", None, ["compute removed; the disk is kept", "stopped"])
        self._remove_compute(ws)
        names = o.Names.of(ws["user_id"], ws["workspace_id"])
        self._delete("Secret", names.namespace, names.secret)
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

    def _remove_compute(self, ws: dict[str, Any]) -> None:
        names = o.Names.of(ws["user_id"], ws["workspace_id"])
        for kind in ("Ingress", "Service", "Pod"):
            self._delete(kind, names.namespace, names.slug)

    def _fail(self, ws: dict[str, Any], reason: str) -> Result:
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

    def _ensure_running(self, ws: dict[str, Any], token: str) -> Result:
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
        ws_labels = o.owner_labels(uid, tid, wid)
        pod: Obj | None = None
        for body in o.workspace_objects(
            ws,
            self.settings,
            activity_token=token_record["activity_token"],
            public_url=self.public_url,
            issuer=self.issuer,
        ):
            if body["kind"] == "Pod":
                pod = self._ensure_pod(body, ws_labels, ws, token, started)
            else:
                self._ensure(body, ws_labels)
        assert pod is not None
        notes.append("disk, pod, service and ingress requested; waiting for the pod")
        self._note(ws, notes)
        return self._wait_ready(ws, token, pod, started)

    def _ensure_pod(
        self, body: Obj, labels: dict[str, str], ws: dict[str, Any], token: str, started: float
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

    def _wait_gone(self, ws: dict[str, Any], token: str, pod: Obj, started: float) -> None:
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

    def _remaining(self, started: float) -> float:
        return max(1.0, self.settings.invocation_budget_seconds - (time.monotonic() - started))

    # -- waiting for Ready -----------------------------------------------------------------------
    def _wait_ready(self, ws: dict[str, Any], token: str, pod: Obj, started: float) -> Result:
        meta = pod["metadata"]
        namespace, uid = meta["namespace"], meta["uid"]
        verdict = assess(pod)
        if verdict[0] != "waiting":
            return self._verdict(ws, verdict, [])
        items: queue.Queue[tuple[str, str, Obj | None]] = queue.Queue()
        watches = _Watches(self.kube, items)
        watches.open(
            "pod",
            "Pod",
            namespace,
            field_selector=f"metadata.name={meta['name']}",
            resource_version=meta.get("resourceVersion"),
            timeout=int(self._remaining(started)),
        )
        watches.open(
            "event",
            "Event",
            namespace,
            field_selector=f"involvedObject.uid={uid}",
            timeout=int(self._remaining(started)),
        )
        pending: list[str] = []
        seen_events: dict[str, int] = {}
        mounts: dict[str, int] = {}
        last_flush = last_renew = time.monotonic()
        last_problem = ""
        try:
            while True:
                try:
                    source, kind, obj = items.get(timeout=self.settings.watch_tick_seconds)
                except queue.Empty:
                    source, kind, obj = "tick", "", None
                if source == "pod" and obj is not None and obj["metadata"].get("uid") == uid:
                    if kind == "DELETED":
                        self._check(ws, token, renew=False)
                        raise TemporaryError("the pod was deleted while starting")
                    verdict = assess(obj)
                    if verdict[0] != "waiting":
                        return self._verdict(ws, verdict, pending)
                elif source == "event" and obj is not None and kind != "DELETED":
                    line = _event_line(obj, seen_events)
                    if line:
                        pending.append(line)
                    if obj.get("reason") in ("FailedScheduling", "FailedMount"):
                        last_problem = f"{obj.get('reason')}: {obj.get('message', '')}"
                    if obj.get("reason") == "FailedMount":
                        mounts[obj["metadata"]["uid"]] = int(obj.get("count") or 1)
                        if sum(mounts.values()) >= self.settings.failed_mount_limit:
                            return self._verdict(
                                ws,
                                ("failed", f"the disk could not be mounted: {obj.get('message')}"),
                                pending,
                            )
                elif source in ("pod-closed", "event-closed"):
                    watches.reopen(source.split("-")[0], int(self._remaining(started)))
                now = time.monotonic()
                if pending and now - last_flush > PROGRESS_FLUSH_SECONDS:
                    self._note(ws, pending)
                    pending, last_flush = [], now
                renew = now - last_renew > self.settings.lease_seconds / 3
                if source == "tick" or renew:
                    self._check(ws, token, renew=renew)
                    if renew:
                        last_renew = now
                began = max(
                    ws.get("start_requested_at") or ws["created_at"], ws.get("claimed_at") or 0
                )
                deadline = began + self.settings.start_deadline_seconds
                if self.clock.now() >= deadline:
                    why = f"; last: {last_problem}" if last_problem else ""
                    return self._verdict(
                        ws,
                        (
                            "failed",
                            f"not ready within {self.settings.start_deadline_seconds} s{why}",
                        ),
                        pending,
                    )
                if now - started > self.settings.invocation_budget_seconds:
                    self._note(ws, pending)
                    raise TemporaryError("still starting; checking again on redelivery")
        finally:
            watches.close()

    def _verdict(self, ws: dict[str, Any], verdict: tuple[str, str], pending: list[str]) -> Result:
        state, detail = verdict
        if state == "ready":
            return Result("ready", None, [*pending, "pod ready", "ready"])
        result = self._fail(ws, detail)
        result.messages = [*pending, *result.messages]
        return result


def _keep_meta(current: Obj) -> Obj:
    meta = current["metadata"]
    return {k: meta[k] for k in ("resourceVersion", "annotations") if k in meta}


def _event_line(event: Obj, seen: dict[str, int]) -> str | None:
    """A progress line per new event (KubeSpawner-style); a repeat is shown once more at most."""
    key = f"{event.get('reason')}|{event.get('message')}"
    count = seen.get(key, 0)
    seen[key] = count + 1
    if count >= 2:
        return None
    return f"{event.get('reason')}: {event.get('message', '')}"


def assess(pod: Obj) -> tuple[str, str]:
    """("ready" | "failed" | "waiting", detail) for one look at the pod."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Failed", "Succeeded"):
        return (
            "failed",
            f"the pod ended ({phase}): {status.get('message') or status.get('reason') or ''}",
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return "ready", "ready"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in FATAL_WAITING:
            return (
                "failed",
                f"{reason}: {FATAL_WAITING[reason]} (container {container.get('name')}): "
                f"{waiting.get('message', '')}".rstrip(": "),
            )
    return "waiting", ""


class _Watches:
    """The pod and event watches of one start, read on threads into one queue."""

    def __init__(self, kube: KubeGateway, items: queue.Queue[tuple[str, str, Obj | None]]) -> None:
        self.kube = kube
        self.items = items
        self.streams: dict[str, Any] = {}
        self.args: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.threads: list[threading.Thread] = []
        self.closed = False

    def open(self, name: str, kind: str, namespace: str, *, timeout: int, **kwargs: Any) -> None:
        self.args[name] = ((kind, namespace), kwargs)
        try:
            stream = self.kube.watch(kind, namespace, timeout_seconds=timeout, **kwargs)
        except KubeError as error:
            raise TemporaryError(f"watching {kind}: {error}") from error
        self.streams[name] = stream

        def read() -> None:
            try:
                for kind_, obj in stream:
                    self.items.put((name, kind_, obj))
            except Exception as error:  # a dropped watch is reopened by the reader of the queue
                if not self.closed:
                    log.warning(
                        "watch ended", extra={"fields": {"watch": name, "error": str(error)[:200]}}
                    )
            if not self.closed:
                self.items.put((f"{name}-closed", "", None))

        thread = threading.Thread(target=read, name=f"watch-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def reopen(self, name: str, timeout: int) -> None:
        (kind, namespace), kwargs = self.args[name]
        last = self.streams[name].resource_version
        if last:
            kwargs = {**kwargs, "resource_version": last}
        self.open(name, kind, namespace, timeout=timeout, **kwargs)

    def close(self) -> None:
        self.closed = True
        for stream in self.streams.values():
            stream.close()
        for thread in self.threads:
            thread.join(timeout=2)
