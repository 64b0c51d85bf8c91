"""A pretend scheduler + kubelet: moves pods Pending -> Running/Ready, or fails them on request,
writing status and core/v1 Events the way a real node does."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from typing import Any, Protocol

from .faults import FaultBook
from .kinds import BY_PLURAL, POD, Kind
from .meta import NODE_NAME, READY_DELAY_ANNOTATION, Obj, now


class PodTimings(Protocol):
    ready_delay: float
    fault_interval: float | None


class PodHost(Protocol):
    """What the simulator needs of the cluster (the cluster implements it; no import cycle)."""

    faults: FaultBook
    loop: asyncio.AbstractEventLoop | None

    @property
    def config(self) -> PodTimings: ...

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None: ...

    def mutate(self, kind: Kind, obj: Obj, fn: Any) -> Obj | None: ...

    def record_event(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str = ...,
        field_path: str | None = ...,
    ) -> None: ...


_BACKOFF_CAP = 16  # repeated failure events back off x2 up to this many intervals


def _condition(type_: str, status: bool, reason: str | None = None, msg: str | None = None) -> Obj:
    c: Obj = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now(),
    }
    if reason:
        c["reason"] = reason
    if msg:
        c["message"] = msg
    return c


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _container_path(name: str, init: bool = False) -> str:
    return f"spec.{'initContainers' if init else 'containers'}{{{name}}}"


class PodSimulator:
    def __init__(self, cluster: PodHost) -> None:
        self.cluster = cluster
        self._timers: dict[str, list[asyncio.TimerHandle | asyncio.Handle]] = {}
        self._ips = itertools.count(2)

    # ------------------------------------------------------------ plumbing

    def _delay(self, pod: Obj) -> float:
        raw = (pod["metadata"].get("annotations") or {}).get(READY_DELAY_ANNOTATION)
        if raw is not None:
            try:
                return max(0.0, float(raw))
            except ValueError:
                pass
        return self.cluster.config.ready_delay

    def _interval(self, pod: Obj) -> float:
        cfg = self.cluster.config.fault_interval
        return cfg if cfg is not None else max(self._delay(pod), 0.05)

    def _at(self, pod: Obj, delay: float, fn: Any, *args: Any) -> None:
        loop = self.cluster.loop
        assert loop is not None
        uid = pod["metadata"]["uid"]

        def run() -> None:
            cur = self._current(pod)
            if cur is not None:
                fn(cur, *args)

        h = loop.call_soon(run) if delay <= 0 else loop.call_later(delay, run)
        self._timers.setdefault(uid, []).append(h)
        if len(self._timers[uid]) > 32:  # drop handles that already ran
            self._timers[uid] = [t for t in self._timers[uid] if not t.cancelled()][-16:]

    def _current(self, pod: Obj) -> Obj | None:
        meta = pod["metadata"]
        cur = self.cluster.get(POD, meta["namespace"], meta["name"])
        if cur is None or cur["metadata"]["uid"] != meta["uid"]:
            return None
        if cur["metadata"].get("deletionTimestamp"):
            return None
        return cur

    def forget(self, pod: Obj) -> None:
        for h in self._timers.pop(pod["metadata"]["uid"], []):
            h.cancel()

    def _status(self, pod: Obj, fn: Any) -> Obj | None:
        return self.cluster.mutate(POD, pod, lambda o: fn(o, o.setdefault("status", {})))

    def _event(
        self,
        pod: Obj,
        type_: str,
        reason: str,
        msg: str,
        component: str = "kubelet",
        container: str | None = None,
    ) -> None:
        path = _container_path(container) if container else None
        self.cluster.record_event(pod, type_, reason, msg, component, path)

    def _repeat(self, pod: Obj, step: int, fn: Any) -> None:
        """Call fn(pod) now and again later with doubling back-off, while the pod lives."""
        fn(pod)
        interval = self._interval(pod) * min(2**step, _BACKOFF_CAP)
        self._at(pod, interval, self._repeat, step + 1, fn)

    # ------------------------------------------------------------ lifecycle

    def start(self, pod: Obj) -> None:
        fault = self.cluster.faults.take(pod)
        self._at(pod, 0, self._schedule, fault)

    def _schedule(self, pod: Obj, fault: str | None) -> None:
        missing = self._missing_claims(pod)
        if fault == "unschedulable" or missing:
            msg = (
                f'persistentvolumeclaim "{missing[0]}" not found. preemption: 0/1 nodes are '
                "available: 1 Preemption is not helpful for scheduling."
                if missing and fault != "unschedulable"
                else "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
                "preemption: 0/1 nodes are available: 1 No preemption victims found for "
                "incoming pod."
            )

            def unschedulable(_o: Obj, st: Obj) -> None:
                st["conditions"] = [_condition("PodScheduled", False, "Unschedulable", msg)]

            p = self._status(pod, unschedulable)
            if p is not None:
                self._repeat(
                    p,
                    0,
                    lambda cur: self._event(
                        cur, "Warning", "FailedScheduling", msg, "default-scheduler"
                    ),
                )
            return

        containers = pod["spec"].get("containers") or []

        def scheduled(o: Obj, st: Obj) -> None:
            o["spec"]["nodeName"] = NODE_NAME
            st.update(
                {
                    "phase": "Pending",
                    "hostIP": "10.128.0.10",
                    "hostIPs": [{"ip": "10.128.0.10"}],
                    "startTime": now(),
                    "conditions": [
                        _condition("PodReadyToStartContainers", False),
                        _condition("Initialized", True),
                        _condition(
                            "Ready", False, "ContainersNotReady", self._not_ready_msg(containers)
                        ),
                        _condition(
                            "ContainersReady",
                            False,
                            "ContainersNotReady",
                            self._not_ready_msg(containers),
                        ),
                        _condition("PodScheduled", True),
                    ],
                    "containerStatuses": [
                        self._waiting(c, "ContainerCreating") for c in containers
                    ],
                }
            )

        p = self._status(pod, scheduled)
        if p is None:
            return
        meta = p["metadata"]
        self._event(
            p,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
            "default-scheduler",
        )
        if fault == "mount":
            vols = [v.get("name") for v in p["spec"].get("volumes") or []] or ["data"]
            msg = (
                f'MountVolume.SetUp failed for volume "{vols[0]}" : rpc error: code = '
                "DeadlineExceeded desc = context deadline exceeded"
            )
            self._repeat(p, 0, lambda cur: self._event(cur, "Warning", "FailedMount", msg))
            return
        for c in containers:
            self._event(
                p, "Normal", "Pulling", f'Pulling image "{c["image"]}"', container=c["name"]
            )
        delay = self._delay(p)
        if fault == "image-pull":
            self._at(p, delay / 2, self._image_pull_failed)
        else:
            self._at(p, delay, self._started, fault == "crash")

    def _missing_claims(self, pod: Obj) -> list[str]:
        pvcs = BY_PLURAL["persistentvolumeclaims"]
        ns = pod["metadata"]["namespace"]
        out = []
        for v in pod["spec"].get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and self.cluster.get(pvcs, ns, claim) is None:
                out.append(claim)
        return out

    @staticmethod
    def _not_ready_msg(containers: list[Obj]) -> str:
        names = " ".join(c["name"] for c in containers)
        return f"containers with unready status: [{names}]"

    @staticmethod
    def _waiting(
        c: Obj, reason: str, message: str | None = None, restarts: int = 0, last: Obj | None = None
    ) -> Obj:
        waiting: Obj = {"reason": reason}
        if message:
            waiting["message"] = message
        return {
            "name": c["name"],
            "state": {"waiting": waiting},
            "lastState": last or {},
            "ready": False,
            "restartCount": restarts,
            "image": c["image"],
            "imageID": "",
            "started": False,
        }

    # --- image pull failure
    def _image_pull_failed(self, pod: Obj) -> None:
        containers = pod["spec"]["containers"]

        def err(_o: Obj, st: Obj) -> None:
            st["containerStatuses"] = [
                self._waiting(c, "ErrImagePull", self._pull_error(c)) for c in containers
            ]

        p = self._status(pod, err)
        if p is None:
            return
        for c in containers:
            self._event(p, "Warning", "Failed", self._pull_error(c), container=c["name"])
            self._event(p, "Warning", "Failed", "Error: ErrImagePull", container=c["name"])
        self._at(p, self._interval(p), self._image_backoff)

    @staticmethod
    def _pull_error(c: Obj) -> str:
        image = c["image"]
        return (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to '
            f'pull and unpack image "{image}": failed to resolve reference "{image}": '
            f"{image}: not found"
        )

    def _image_backoff(self, pod: Obj) -> None:
        containers = pod["spec"]["containers"]

        def backoff(_o: Obj, st: Obj) -> None:
            st["containerStatuses"] = [
                self._waiting(c, "ImagePullBackOff", f'Back-off pulling image "{c["image"]}"')
                for c in containers
            ]

        p = self._status(pod, backoff)
        if p is None:
            return

        def events(cur: Obj) -> None:
            for c in containers:
                self._event(
                    cur,
                    "Normal",
                    "BackOff",
                    f'Back-off pulling image "{c["image"]}"',
                    container=c["name"],
                )
                self._event(
                    cur, "Warning", "Failed", "Error: ImagePullBackOff", container=c["name"]
                )

        self._repeat(p, 0, events)

    # --- start (healthy or crashing)
    def _started(self, pod: Obj, crash: bool, restarts: int = 0) -> None:
        containers = pod["spec"]["containers"]
        ts = now()
        ready = not crash
        n = next(self._ips)

        def running(_o: Obj, st: Obj) -> None:
            old = {s["name"]: s for s in st.get("containerStatuses") or []}
            st["phase"] = "Running"
            st.setdefault("podIP", f"10.8.{(n // 250) % 250}.{n % 250 + 2}")
            st["podIPs"] = [{"ip": st["podIP"]}]
            st["conditions"] = [
                _condition("PodReadyToStartContainers", True),
                _condition("Initialized", True),
                _condition(
                    "Ready",
                    ready,
                    None if ready else "ContainersNotReady",
                    None if ready else self._not_ready_msg(containers),
                ),
                _condition(
                    "ContainersReady",
                    ready,
                    None if ready else "ContainersNotReady",
                    None if ready else self._not_ready_msg(containers),
                ),
                _condition("PodScheduled", True),
            ]
            st["containerStatuses"] = [
                {
                    "name": c["name"],
                    "state": {"running": {"startedAt": ts}},
                    "lastState": (old.get(c["name"]) or {}).get("lastState") or {},
                    "ready": ready,
                    "restartCount": restarts,
                    "image": c["image"],
                    "imageID": f"{c['image'].split(':')[0]}@sha256:{_digest(c['image'])}",
                    "containerID": f"containerd://{_digest(c['name'] + ts + str(restarts))}",
                    "started": True,
                }
                for c in containers
            ]

        p = self._status(pod, running)
        if p is None:
            return
        for c in containers:
            if restarts == 0:
                self._event(
                    p,
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{c["image"]}" in 1.2s (1.2s including '
                    "waiting). Image size: 52428800 bytes.",
                    container=c["name"],
                )
            else:
                self._event(
                    p,
                    "Normal",
                    "Pulled",
                    f'Container image "{c["image"]}" already present on machine',
                    container=c["name"],
                )
            self._event(
                p, "Normal", "Created", f"Created container {c['name']}", container=c["name"]
            )
            self._event(
                p, "Normal", "Started", f"Started container {c['name']}", container=c["name"]
            )
        if crash:
            self._at(p, self._interval(p), self._crashed, restarts)

    def _crashed(self, pod: Obj, restarts: int) -> None:
        containers = pod["spec"]["containers"]
        meta = pod["metadata"]
        ts = now()

        def crashed(_o: Obj, st: Obj) -> None:
            prev = {s["name"]: s for s in st.get("containerStatuses") or []}
            st["containerStatuses"] = [
                self._waiting(
                    c,
                    "CrashLoopBackOff",
                    f"back-off {10 * 2 ** min(restarts, 5)}s restarting failed "
                    f"container={c['name']} pod={meta['name']}_{meta['namespace']}({meta['uid']})",
                    restarts + 1,
                    {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": ((prev.get(c["name"]) or {}).get("state") or {})
                            .get("running", {})
                            .get("startedAt", ts),
                            "finishedAt": ts,
                            "containerID": (prev.get(c["name"]) or {}).get("containerID", ""),
                        }
                    },
                )
                for c in containers
            ]

        p = self._status(pod, crashed)
        if p is None:
            return
        for c in containers:
            self._event(
                p,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {c['name']} in pod "
                f"{meta['name']}_{meta['namespace']}({meta['uid']})",
                container=c["name"],
            )
        wait = self._interval(p) * min(2**restarts, _BACKOFF_CAP)
        self._at(p, wait, self._started, True, restarts + 1)
