"""The local data plane: a real sidecar in front of the workspace IDE for each ready workspace.

What a workspace pod is in the cluster (sidecar on :8080 in front of Theia on :3000), two local
processes are on this machine: the IDE (Theia built from ``ide/``, or with ``CODITECT_IDE=
placeholder`` the light ``python -m sidecar.placeholder_ide``; see :mod:`devstack.dataplane_ide`
for its folders, the workspace's files among them, and its settings: the pod's, the AI chat
through the LLM gateway) and ``python -m sidecar``, both on loopback (how they start and end:
:mod:`devstack.dataplane_processes`), their output in ``<data_dir>/dataplane/<workspace>.log``.
The workspace's ``url`` is ``http://<workspace id>.localhost:<sidecar port>`` (``local_url``):
its own site, as a workspace host is in the cluster, so two workspaces keep separate cookies and
the app on ``127.0.0.1`` frames it cross-site; Chromium resolves ``*.localhost`` to loopback and
treats it as a secure context, so the sidecar's ``Secure`` cookie works there without TLS.

It plugs into the provisioner through the seam in :mod:`devstack.workspaces`:

- ``workspace_url(ws)`` is called inside the transaction that records ``ready``. It picks the
  workspace's port (kept across stop/start and restarts in ``ports.json``) and makes sure both
  processes run, the IDE serves its page (``GET /`` is 200) and the sidecar's ``/readyz``
  reaches it before it returns, so ``ready`` means reachable, as the pod's readiness probes do
  in the cluster. (Theia takes a few seconds on a busy machine: a transaction that outlives
  FoundationDB's 5 s is retried and finds the processes running.) The transaction may run more than
  once, so this is an idempotent "ensure" (a second call finds the processes running).
- ``on_status(ws, status)`` after each settled state: ``ready`` ensures again (a no-op
  normally); ``stopped``/``deleted``/``failed`` end both processes; ``deleted`` also removes
  the workspace's folder (its files).

A watchdog ends processes whose workspace settled elsewhere (a failure recorded after the last
attempt calls no hook) and restarts crashed ones of ready workspaces (the pod's
``restartPolicy: Always``). Not used with ``KUBECONFIG``: a real cluster has real pods.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack import dataplane_ide
from devstack import dataplane_processes as procs
from devstack.dataplane_ide import IdeKind
from devstack.dataplane_ports import PortBook, free_port, local_url
from devstack.dataplane_processes import HOST, ROOT, Running, StartFailed
from shared.clock import Clock
from shared.provisioner.objects import sidecar_env as pod_sidecar_env
from shared.provisioner.theia import LlmAccess, WorkspaceGone, workspace_settings
from shared.workspaces import model

log = logging.getLogger("coditect.devstack.dataplane")

WATCH_SECONDS = 2.0
SETTLED_ELSEWHERE = ("stopped", "deleted", "failed")


class LocalDataPlane:
    """The hooks object: ports, processes and their lifecycle, one entry per workspace."""

    def __init__(
        self,
        db: Any,
        *,
        llm: LlmAccess,
        clock: Clock,
        platform_url: str,
        issuer: str,
        data_dir: str,
        environ: dict[str, str] | None = None,
        ide: IdeKind = "theia",
    ) -> None:
        self.db = db
        self.llm = llm
        self.clock = clock
        self.ide: IdeKind = ide
        self.platform_url = platform_url.rstrip("/")
        self.issuer = issuer
        self.dir = os.path.join(data_dir, "dataplane")
        os.makedirs(self.dir, exist_ok=True)
        self._environ = dict(os.environ if environ is None else environ)
        self._book = PortBook(os.path.join(self.dir, "ports.json"), HOST)
        self._running: dict[str, Running] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.RLock()
        self._closed = False
        # Store reads from inside the provisioner's transaction need another thread: a thread
        # has one connection, and SQLite cannot nest a second transaction on it.
        self._reader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataplane-read")
        self._stop_watch = threading.Event()
        self._watch = threading.Thread(target=self._watchdog, name="dataplane-watch", daemon=True)
        self._watch.start()

    # == hooks ====================================================================================
    def workspace_url(self, ws: dict[str, Any]) -> str | None:
        self.serve(ws)
        return local_url(ws["workspace_id"], self._port(ws["workspace_id"]))

    def serve(self, ws: dict[str, Any]) -> Running | None:
        """``ensure`` on the workspace's port, or on another if that one would not bind."""
        wid = ws["workspace_id"]
        for _ in range(3):
            port = self._port(wid)
            try:
                return self.ensure(ws)
            except StartFailed as error:
                # Most likely the port was taken between choosing and binding: choose again.
                log.error(str(error), extra={"fields": {"workspace_id": wid}})
                self._forget_port(wid, port)
        return None

    def on_status(self, ws: dict[str, Any], status: str) -> None:
        wid = ws["workspace_id"]
        if status == "ready":
            try:
                self.ensure(ws)
            except StartFailed as error:
                log.error(str(error), extra={"fields": {"workspace_id": wid}})
        elif status in SETTLED_ELSEWHERE:
            self.end(wid)
            if status == "deleted":
                self._forget(wid)

    # == processes ================================================================================
    def ensure(self, ws: dict[str, Any]) -> Running | None:
        """Both processes running and the sidecar ready; idempotent. None once closed."""
        wid = ws["workspace_id"]
        with self._lock_for(wid):
            if self._closed:
                return None
            port = self._port(wid)
            current = self._running.get(wid)
            if current is not None and current.alive() and current.port == port:
                return current
            if current is not None:
                log.warning(
                    "restarting the local sidecar of a workspace",
                    extra={"fields": {"workspace_id": wid, "log": current.log_path}},
                )
                procs.terminate([current])
                del self._running[wid]
            running = self._start(ws, port)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._running[wid] = running
            if closed:  # the stack stopped while these started: they must not outlive it
                procs.terminate([running])
                self._write_state(wid, None)
                return None
        log.info(
            "local sidecar ready",
            extra={
                "fields": {
                    "workspace_id": wid,
                    "url": local_url(wid, port),
                    "ide": f"{running.ide_kind} on port {running.ide_port}",
                    "log": running.log_path,
                }
            },
        )
        return running

    def end(self, wid: str) -> bool:
        """End both processes of a workspace (sidecar first: it closes sockets through the IDE)."""
        with self._lock_for(wid):
            running = self._running.pop(wid, None)
            if running is None:
                return False
            procs.terminate([running])
        self._write_state(wid, None)
        log.info("local sidecar stopped", extra={"fields": {"workspace_id": wid}})
        return True

    def close(self) -> None:
        """Stack stop: no new processes; end all of them together."""
        with self._lock:
            self._closed = True
        self._stop_watch.set()
        self._watch.join(timeout=WATCH_SECONDS + 5)
        with self._lock:
            everything = list(self._running.values())
            self._running.clear()
        procs.terminate(everything)
        for running in everything:
            self._write_state(running.ws["workspace_id"], None)
        self._reader.shutdown(wait=True)

    def running(self) -> dict[str, Running]:
        with self._lock:
            return dict(self._running)

    def _start(self, ws: dict[str, Any], port: int) -> Running:
        wid = ws["workspace_id"]
        credential, settings = self._reader.submit(self._start_inputs, ws).result(timeout=10)
        ide_port = self._free_port()
        metrics_port = self._free_port(exclude={ide_port})
        log_path = os.path.join(self.dir, f"{wid}.log")
        where = dataplane_ide.folders(self.dir, wid)
        where.prepare(settings)
        base = procs.base_env(self._environ)
        # The pod spec's own environment (so a variable added there reaches local sidecars
        # too), with local ports and the credential as a variable instead of a mounted file.
        sidecar_env = {
            **base,
            **procs.pass_through(self._environ),
            **pod_sidecar_env(ws, self.platform_url, self.issuer),
            "UPSTREAM_URL": f"http://{HOST}:{ide_port}",
            "LISTEN_HOST": HOST,
            "LISTEN_PORT": str(port),
            "METRICS_HOST": HOST,
            "METRICS_PORT": str(metrics_port),
            "ACTIVITY_TOKEN": credential,
            # The app's IDE tabs frame the IDE from the stack's origin.
            "APP_ORIGIN": self.platform_url,
        }
        sidecar_env.setdefault("SHUTDOWN_GRACE_SECONDS", str(procs.SHUTDOWN_GRACE_SECONDS))
        with open(log_path, "ab") as out:
            out.write(
                f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {self.ide} IDE on {HOST}:{ide_port} "
                f"({where.files}), sidecar on {HOST}:{port} (metrics {metrics_port})\n".encode()
            )
            out.flush()
            ide = dataplane_ide.spawn(
                self.ide, where, host=HOST, port=ide_port, base_env=base, cwd=ROOT, out=out
            )
            try:
                sidecar = procs.spawn_python(["-m", "sidecar"], sidecar_env, out)
            except OSError:
                dataplane_ide.kill_group(ide)
                ide.wait()
                raise
        running = Running(dict(ws), port, ide_port, metrics_port, ide, sidecar, log_path, self.ide)
        try:
            procs.wait_ready(running)
        except StartFailed:
            procs.terminate([running])
            raise
        self._write_state(wid, running)
        return running

    # == the store ================================================================================
    def _start_inputs(self, ws: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The sidecar's activity credential and Theia's settings, read as the provisioner reads
        them for a pod's Secrets (on the reader thread: see ``_reader``)."""
        wid = ws["workspace_id"]
        ids = (ws["tenant_id"], ws["user_id"], wid)
        record = self.db.transact(lambda tr: model.load(tr.get(model.secret_key(*ids))))
        if record is None:
            raise StartFailed(f"workspace {wid} has no activity credential; no sidecar started")
        try:
            settings = workspace_settings(
                self.db, self.llm.key_secret(), self.llm.gateway_url, ws, self.clock.now()
            )
        except WorkspaceGone:
            raise StartFailed(f"workspace {wid} was deleted; no sidecar started") from None
        return record["activity_token"], settings

    def _status(self, ws: dict[str, Any]) -> str | None:
        ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])
        record = self.db.transact(lambda tr: model.get(tr, *ids, snapshot=True))
        return record["status"] if record else None

    def _watchdog(self) -> None:
        while not self._stop_watch.wait(WATCH_SECONDS):
            for wid, running in self.running().items():
                try:
                    status = self._status(running.ws)
                    if status is None or status in SETTLED_ELSEWHERE:
                        self.end(wid)
                        if status in (None, "deleted"):
                            self._forget(wid)
                    elif status == "ready" and not running.alive():
                        self.ensure(running.ws)
                except Exception:
                    log.exception("local data plane check failed", extra={"fields": {"wid": wid}})

    # == ports ====================================================================================
    def _lock_for(self, wid: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(wid, threading.Lock())

    def _port(self, wid: str) -> int:
        with self._lock:
            current = self._running.get(wid)
            return self._book.port(wid, current.port if current else None, self._taken())

    def _forget_port(self, wid: str, port: int | None) -> None:
        self._book.forget(wid, port)

    def _forget(self, wid: str) -> None:
        """A deleted workspace: its port and its folder (the files, as its PVC) go."""
        self._forget_port(wid, None)
        with self._lock_for(wid):
            dataplane_ide.folders(self.dir, wid).remove()

    def _taken(self) -> set[int]:
        with self._lock:
            return {p for r in self._running.values() for p in (r.port, r.ide_port, r.metrics_port)}

    def _free_port(self, exclude: set[int] | None = None) -> int:
        return free_port(HOST, self._taken() | self._book.reserved() | (exclude or set()))

    def _write_state(self, wid: str, running: Running | None) -> None:
        """``<wid>.json``: what runs for a workspace (ports, pids), for people and tests."""
        path = os.path.join(self.dir, f"{wid}.json")
        if running is None:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            return
        state = {
            "workspace_id": wid,
            "url": local_url(wid, running.port),
            "sidecar": {"pid": running.sidecar.pid, "port": running.port},
            "metrics_port": running.metrics_port,
            "ide": {"kind": running.ide_kind, "pid": running.ide.pid, "port": running.ide_port},
            "files": dataplane_ide.folders(self.dir, wid).files,
            "log": running.log_path,
        }
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=1)
        os.replace(tmp, path)


def start(stack: Any) -> Callable[[], None]:
    """COMPONENT for devstack.stack; listed before the workspaces component so the hooks are in
    place before its resync re-checks running workspaces."""
    from devstack.dataplane_resume import resume_ready
    from devstack.workspaces import install_hooks

    if stack.settings.kubeconfig:
        stack.started.append("local data plane: off (workspaces run in the KUBECONFIG cluster)")
        return lambda: None
    kind: IdeKind = stack.dev.ide
    ide_state = dataplane_ide.ensure_built(kind, stack.dev.ide_build)
    services = stack.services
    plane = LocalDataPlane(
        services.db,
        # Theia's settings as the provisioner renders them for a pod: the plan's models at the
        # gateway on this origin (<stack URL>/api/llm/v1), the workspace's own LLM key.
        llm=LlmAccess(services.settings.llm_public_url, services.llm_key_secret),
        clock=services.clock,
        platform_url=stack.url,
        issuer=stack.settings.issuer,
        data_dir=stack.settings.data_dir,
        ide=kind,
    )
    install_hooks(services, plane)
    stack.started.append(
        f"local data plane: a sidecar + {kind} IDE ({ide_state}) per ready workspace on {HOST} "
        f"(files and logs in {os.path.abspath(plane.dir)})"
    )

    def stop() -> None:
        services.hooks = None
        plane.close()

    try:  # before the stack says it is ready: a workspace recorded ready answers on its URL
        resumed = resume_ready(plane, services.db, services.clock)
    except BaseException:
        stop()  # this component is not in the stack's list yet: end what it started
        raise
    if resumed:
        stack.started.append(f"local data plane: {resumed} ready workspace(s) answer again")
    return stop
