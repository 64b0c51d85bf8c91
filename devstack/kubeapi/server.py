"""`KubeStandin`: the Kubernetes API stand-in on a background thread with its own event loop,
so synchronous code and tests can use it."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .api import Api
from .cluster import Cluster, Config
from .faults import FaultRule
from .meta import Obj
from .validation import warm_up

log = logging.getLogger("devstack.kubeapi")


class KubeStandin:
    """A Kubernetes API stand-in on a background thread.

    >>> with KubeStandin(ready_delay=0.1) as kube:
    ...     v1 = kubernetes.client.CoreV1Api(kube.api_client())
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ready_delay: float = 1.0,
        validate: bool = True,
        latency: float = 0.0,
        namespace_delete_delay: float = 0.2,
        pod_delete_grace: float = 0.0,
        fault_interval: float | None = None,
        default_objects: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.cluster = Cluster(
            Config(
                ready_delay=ready_delay,
                validate=validate,
                latency=latency,
                namespace_delete_delay=namespace_delete_delay,
                pod_delete_grace=pod_delete_grace,
                fault_interval=fault_interval,
                default_objects=default_objects,
            )
        )
        self._api = Api(self.cluster)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._clients: list[Any] = []

    # ---------------------------------------------------------- lifecycle

    def start(self) -> KubeStandin:
        if self._thread is not None:
            return self
        if self.cluster.config.validate:
            warm_up()  # pay the schema loading once, up front, not on the first request
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self.cluster.loop = loop
            asyncio.set_event_loop(loop)
            try:
                # handler_cancellation: a watch whose client disconnects ends at once.
                runner = web.AppRunner(
                    self._api.app(),
                    handler_cancellation=True,
                    access_log=None,
                    shutdown_timeout=1.0,
                )
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.SockSite(runner, sock).start())
                self._runner = runner
            except BaseException as e:  # surfaced to start()'s caller
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="kube-standin", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: S110 - best effort, the pool may already be gone
                pass
        self._clients.clear()

        async def shutdown() -> None:
            self.cluster.close_all_watches()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._thread = None
            self._loop = None

    def __enter__(self) -> KubeStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------- clients

    def configuration(self) -> Any:
        import kubernetes.client

        cfg = kubernetes.client.Configuration(host=self.url, no_proxy=self.host)
        return cfg

    def api_client(self) -> Any:
        """A `kubernetes.client.ApiClient` pointed at the stand-in (closed on stop())."""
        import kubernetes.client

        client = kubernetes.client.ApiClient(self.configuration())
        self._clients.append(client)
        return client

    def kubeconfig(self, path: str | Path, context: str = "standin") -> Path:
        """Write a kubeconfig for `kubernetes.config.load_kube_config(path)` and kubectl."""
        path = Path(path)
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "standin"}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": "default"},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        path.write_text(json.dumps(doc, indent=2))  # JSON is valid YAML
        return path

    # ---------------------------------------------------------- runtime settings

    @property
    def latency(self) -> float:
        return self.cluster.config.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self.cluster.config.latency = value

    @property
    def ready_delay(self) -> float:
        return self.cluster.config.ready_delay

    @ready_delay.setter
    def ready_delay(self, value: float) -> None:
        self.cluster.config.ready_delay = value

    @property
    def validate(self) -> bool:
        return self.cluster.config.validate

    @validate.setter
    def validate(self, value: bool) -> None:
        self.cluster.config.validate = value

    # ---------------------------------------------------------- fault injection

    def fail_next_pods(
        self,
        mode: str,
        count: int = 1,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        image: str | None = None,
    ) -> FaultRule:
        """The next `count` pods created (matching the filters) fail with `mode`:
        image-pull | crash | unschedulable | mount."""
        return self.cluster.faults.add(FaultRule(mode, count, namespace, label_selector, image))

    def fail_pods(
        self,
        mode: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        image: str | None = None,
    ) -> FaultRule:
        """Every pod created from now on that matches the filters fails with `mode`."""
        return self.cluster.faults.add(FaultRule(mode, None, namespace, label_selector, image))

    def clear_faults(self) -> None:
        self.cluster.faults.clear()

    def faults(self) -> list[FaultRule]:
        return self.cluster.faults.list()

    # ---------------------------------------------------------- counters

    def counts(self) -> dict[tuple[str, str], int]:
        """API calls so far as {(verb, resource): n}, e.g. {("create", "pods"): 3}."""
        return self.cluster.calls.snapshot()

    def calls(
        self,
        verb: str | Iterable[str] | None = None,
        resource: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """Total API calls, optionally only of some verb(s), resource and/or namespace
        (namespace counts include calls on the Namespace object itself)."""
        if namespace is not None:
            if verb is not None or resource is not None:
                raise ValueError("namespace cannot be combined with verb/resource filters")
            return self.cluster.calls.by_namespace().get(namespace, 0)
        verbs = {verb} if isinstance(verb, str) else (set(verb) if verb is not None else None)
        return sum(
            n
            for (v, r), n in self.counts().items()
            if (verbs is None or v in verbs) and (resource is None or r == resource)
        )

    def calls_by_namespace(self) -> dict[str, int]:
        return self.cluster.calls.by_namespace()

    def reset_counts(self) -> None:
        self.cluster.calls.reset()

    # ---------------------------------------------------------- inspection

    def objects(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Copies of the stored objects of one resource (plural), read on the server loop."""
        return self.call(lambda: self.cluster.snapshot(resource, namespace))

    def call(self, fn: Any) -> Any:
        """Run fn() on the server loop (where the state lives) and return its result."""
        if self._loop is None:
            return fn()

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)
