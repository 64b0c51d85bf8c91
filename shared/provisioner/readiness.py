"""Waiting for a starting pod to be Ready: a watch on the pod and its events."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from shared.provisioner.base import ReconcilerBase, Result, TemporaryError
from shared.provisioner.kube import KubeError, KubeGateway
from shared.workspaces.model import WorkspaceRecord

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


class Readiness(ReconcilerBase):
    def _wait_ready(self, ws: WorkspaceRecord, token: str, pod: Obj, started: float) -> Result:
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

    def _verdict(self, ws: WorkspaceRecord, verdict: tuple[str, str], pending: list[str]) -> Result:
        state, detail = verdict
        if state == "ready":
            return Result("ready", None, [*pending, "pod ready", "ready"])
        result = self._fail(ws, detail)
        result.messages = [*pending, *result.messages]
        return result
