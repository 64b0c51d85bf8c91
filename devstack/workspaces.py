"""Local workspaces: the Kubernetes API stand-in, the provisioner function subscribed to the
reconcile topic, and idle cleanup on a timer.

The provisioner runs through its real entry point: functions-framework's CloudEvent app for
``functions/provisioner/main.py``, each Pub/Sub message posted to it as a binary CloudEvent.
A non-2xx answer makes the local bus redeliver with backoff, then dead-letter, as Pub/Sub does.

With ``KUBECONFIG`` set, no stand-in is started and the same provisioner drives that cluster.

Seam for the local sidecar (see docs/workspaces.md): put an object with
``workspace_url(ws) -> str | None`` (called before ``ready`` is recorded; the URL it returns is
the workspace's ``url``) and ``on_status(ws, status)`` (called after ready/stopped/failed/deleted
is committed) into ``services.extras["workspace_hooks"]`` with
``install_hooks(stack.services, hooks)``, from a component listed after this one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from shared.events import RECONCILE_TOPIC
from shared.store.keys import INDEXES
from shared.workspaces.config import WorkspaceSettings

log = logging.getLogger("coditect.devstack.workspaces")


def install_hooks(services: Any, hooks: Any) -> None:
    """Give the provisioner the local stack's hooks (URL of a ready workspace, status news)."""
    services.hooks = hooks


def subscribe_provisioner(
    events: Any, *, max_attempts: int, min_backoff: float = 1.0, max_backoff: float = 30.0
) -> None:
    """Deliver ``workspace-reconcile`` to the provisioner function, as a Pub/Sub trigger does."""
    from cloudevents.conversion import to_binary

    from devstack.stack import load_function

    app = load_function("provisioner")

    def deliver(event: Any) -> None:
        headers, body = to_binary(event)
        response = app.test_client().post("/", headers=headers, data=body)
        if response.status_code >= 300:
            raise RuntimeError(f"provisioner answered {response.status_code}")

    events.subscribe(
        RECONCILE_TOPIC,
        deliver,
        name="provisioner",
        max_attempts=max_attempts,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
    )


def resync(services: Any) -> int:
    """Ask the provisioner to re-check every running workspace (the stand-in starts empty)."""
    begin, end = INDEXES.range("ws_active")
    rows = services.db.transact(lambda tr: tr.get_range(begin, end, snapshot=True))
    for key, _ in rows:
        _, _, tid, uid, wid = INDEXES.unpack(key)
        services.events.publish(
            RECONCILE_TOPIC,
            {"tenant_id": tid, "user_id": uid, "workspace_id": wid, "resync": True},
        )
    return len(rows)


class Timer:
    """Runs ``fn`` every ``seconds`` on a thread until stopped (Cloud Scheduler's local twin)."""

    def __init__(self, seconds: float, fn: Callable[[], Any], name: str) -> None:
        self._seconds = seconds
        self._fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Timer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._fn()
            except Exception:
                log.exception("scheduled job failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def start(stack: Any) -> Callable[[], None]:
    """COMPONENT for devstack.stack: returns the function that stops what it started."""
    from shared.workspaces.idle import IdleCleanup

    services = stack.services
    if services.settings.workspaces.domain == WorkspaceSettings().domain:
        # Locally the workspace URL comes from the hooks; this is only the fallback host.
        services.replace_settings(
            workspaces=dataclasses.replace(
                services.settings.workspaces, domain="workspaces.localhost", url_scheme="http"
            )
        )
    settings = services.settings.workspaces
    stops: list[Callable[[], None]] = []
    if services.settings.kubeconfig:
        stack.started.append(
            f"provisioner → Kubernetes cluster from KUBECONFIG={services.settings.kubeconfig}"
        )
    else:
        from kubernetes import client

        from devstack.kubeapi import KubeStandin

        standin = KubeStandin(
            ready_delay=stack.dev.kube_ready_delay,
            port=stack.dev.kube_port,
        ).start()
        stops.append(standin.stop)
        path = standin.kubeconfig(os.path.join(stack.settings.data_dir, "kubeconfig"))
        configuration = standin.configuration()
        configuration.connection_pool_maxsize = 64
        api_client = client.ApiClient(configuration)
        stops.append(api_client.close)
        services.kube_api_client = api_client
        stack.started.append(
            f"Kubernetes API stand-in on {standin.url} (kubeconfig {os.path.abspath(path)})"
        )
    subscribe_provisioner(services.events, max_attempts=settings.max_attempts)
    stack.started.append(f"function provisioner ← Pub/Sub topic {RECONCILE_TOPIC}")
    cleanup = IdleCleanup(services.db, services.events, services.clock, settings)
    every = stack.dev.idle_cleanup_seconds
    timer = Timer(every, cleanup.run, "idle-cleanup").start()
    stops.append(timer.stop)
    stack.started.append(
        f"idle cleanup every {every:g} s (idle after {settings.idle_seconds} s, "
        f"retention {settings.retention_seconds} s)"
    )
    count = resync(services)
    if count:
        stack.started.append(f"re-checking {count} running workspace(s) against the cluster")

    def stop() -> None:
        while stops:
            try:
                stops.pop()()
            except Exception:
                log.exception("stopping a workspace component failed")

    return stop
