"""HTTP front of the Kubernetes API stand-in (aiohttp), and `KubeStandin`, which runs it on a
background thread with its own event loop so synchronous code and tests can use it."""

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

from . import errors
from .cluster import FAULT_MODES, Cluster, Config, FaultRule
from .errors import ApiError, bad_request
from .kinds import BY_PATH, GROUPS, NAMESPACE, Kind
from .validation import SCHEMA_VERSION, warm_up

log = logging.getLogger("devstack.kubeapi")

Obj = dict[str, Any]
DEFAULT_WATCH_TIMEOUT = 1800.0  # the real server's --min-request-timeout
_JSON = "application/json"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type=_JSON)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as e:
        raise bad_request(f"invalid value for {name}: {raw!r}") from e


class Route:
    """What a URL names: a kind, and optionally a namespace, object name and subresource."""

    __slots__ = ("kind", "name", "namespace", "sub")

    def __init__(self, kind: Kind, namespace: str | None, name: str | None, sub: str) -> None:
        self.kind, self.namespace, self.name, self.sub = kind, namespace, name, sub


def resolve(group: str, version: str, parts: list[str]) -> tuple[Route, bool]:
    """Map the path after /api/v1 or /apis/{group}/{version} to a Route; bool = legacy /watch/."""
    watch = False
    if parts and parts[0] == "watch":
        watch, parts = True, parts[1:]
    n = len(parts)
    if n == 0:
        raise errors.no_route()
    if parts[0] == "namespaces" and not group:
        if n == 1:
            return Route(NAMESPACE, None, None, ""), watch
        if n == 2:
            return Route(NAMESPACE, None, parts[1], ""), watch
        if n == 3 and parts[2] in ("status", "finalize"):
            return Route(NAMESPACE, None, parts[1], parts[2]), watch
    if parts[0] == "namespaces" and n >= 3:
        kind = BY_PATH.get((group, version, parts[2]))
        if kind is None or not kind.namespaced or n > 5:
            raise errors.no_route()
        name = parts[3] if n >= 4 else None
        sub = parts[4] if n == 5 else ""
        if sub and not (sub == "status" and kind.status_subresource):
            raise errors.no_route()
        return Route(kind, parts[1], name, sub), watch
    kind = BY_PATH.get((group, version, parts[0]))
    if kind is None or n != 1:
        raise errors.no_route()
    return Route(kind, None, None, ""), watch  # cluster-wide list/watch of a namespaced kind


class Api:
    """aiohttp handlers over a Cluster. All handlers run on the cluster's loop."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.shutting_down = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return _response(e.status(), e.code)
        except Exception as e:  # the real server answers 500 with a Status, never a traceback
            log.exception("stand-in error on %s %s", request.method, request.path)
            return _response(
                ApiError(500, "InternalError", f"Internal error occurred: {e!r}").status(), 500
            )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _response({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/version"]})
        head = parts[0]
        if head in ("healthz", "livez", "readyz"):
            return web.Response(text="ok")
        if head == "version":
            return _response(_version())
        if head == "_standin":
            return await self._admin(request, parts[1:])
        if head == "api":
            if len(parts) == 1:
                return _response(
                    {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
                )
            if parts[1] != "v1":
                raise errors.no_route()
            if len(parts) == 2:
                return _response(_resource_list("", "v1"))
            return await self._resource(request, "", "v1", parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return _response(_group_list())
            group = parts[1]
            if group not in GROUPS or group == "":
                raise errors.no_route()
            if len(parts) == 2:
                return _response(_group(group))
            if parts[2] != "v1":
                raise errors.no_route()
            if len(parts) == 3:
                return _response(_resource_list(group, "v1"))
            return await self._resource(request, group, "v1", parts[3:])
        raise errors.no_route()

    # ------------------------------------------------------------ resources

    async def _resource(
        self, request: web.Request, group: str, version: str, parts: list[str]
    ) -> web.StreamResponse:
        route, legacy_watch = resolve(group, version, parts)
        kind, ns, name, sub = route.kind, route.namespace, route.name, route.sub
        method = request.method
        q = request.query
        watch = legacy_watch or q.get("watch") in ("true", "1", "True")
        resource = f"{kind.plural}/{sub}" if sub else kind.plural
        if method == "GET":
            verb = "watch" if watch else ("get" if name else "list")
        elif method == "POST" and not name:
            verb = "create"
        elif method == "PUT" and name:
            verb = "update"
        elif method == "PATCH" and name:
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise errors.method_not_allowed(method)
        c = self.cluster
        body: Any = None
        if verb in ("create", "update", "patch", "delete", "deletecollection"):
            body = await _json_body(request, optional=verb.startswith("delete"))
        count_ns = ns if kind.namespaced else name
        if kind is NAMESPACE and verb == "create" and isinstance(body, dict):
            count_ns = (body.get("metadata") or {}).get("name")  # per-workspace accounting
        c.count(verb, resource, count_ns)
        if c.config.latency > 0:
            await asyncio.sleep(c.config.latency)
        if q.get("dryRun"):
            raise bad_request("dryRun is not supported by the Kubernetes stand-in")

        if verb == "watch":
            return await self._watch(request, kind, ns)
        if verb == "list":
            return _response(
                c.list(
                    kind,
                    ns,
                    q.get("labelSelector"),
                    q.get("fieldSelector"),
                    _int_param(request, "limit"),
                    q.get("continue"),
                )
            )
        if verb == "get":
            assert name is not None
            return _response(c.read(kind, ns or "", name))
        if verb == "deletecollection":
            if ns is None and kind.namespaced:
                raise errors.method_not_allowed(method)
            items = c.select(kind, ns, q.get("labelSelector"), q.get("fieldSelector"))
            deleted = [
                c.delete(
                    kind,
                    o["metadata"].get("namespace") or "",
                    o["metadata"]["name"],
                    body,
                    _int_param(request, "gracePeriodSeconds"),
                )
                for o in items
            ]
            return _response(
                {
                    "kind": kind.list_kind,
                    "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(c.rv)},
                    "items": deleted,
                }
            )
        if kind.namespaced and ns is None:
            raise errors.method_not_allowed(method)
        nsname = ns or ""
        if verb == "create":
            return _response(c.create(kind, nsname, body), 201)
        assert name is not None
        if verb == "update":
            return _response(c.replace(kind, nsname, name, body, subresource=sub))
        if verb == "patch":
            ctype = request.headers.get("Content-Type", "application/strategic-merge-patch+json")
            return _response(c.patch(kind, nsname, name, ctype, body, subresource=sub))
        result = c.delete(kind, nsname, name, body, _int_param(request, "gracePeriodSeconds"))
        return _response(result)

    async def _watch(self, request: web.Request, kind: Kind, ns: str | None) -> web.StreamResponse:
        q = request.query
        timeout = _int_param(request, "timeoutSeconds")
        w = self.cluster.open_watch(
            kind, ns, q.get("labelSelector"), q.get("fieldSelector"), q.get("resourceVersion")
        )
        resp = web.StreamResponse(status=200, headers={"Content-Type": _JSON})
        resp.enable_chunked_encoding()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else DEFAULT_WATCH_TIMEOUT)
        try:
            await resp.prepare(request)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(w.queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    break
                type_, obj = item
                await resp.write(_dumps({"type": type_, "object": obj}) + b"\n")
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away; the watch just ends (cancellation propagates)
        finally:
            self.cluster.close_watch(w)
        return resp

    # ------------------------------------------------------------ admin (not part of Kubernetes)

    async def _admin(self, request: web.Request, parts: list[str]) -> web.Response:
        c = self.cluster
        what = parts[0] if parts else ""
        if what == "faults":
            if request.method == "GET":
                return _response({"faults": [f.to_dict() for f in c.list_faults()]})
            if request.method == "DELETE":
                c.clear_faults()
                return _response({"faults": []})
            if request.method == "POST":
                body = await _json_body(request)
                if not isinstance(body, dict) or body.get("mode") not in FAULT_MODES:
                    raise bad_request(f"body needs mode, one of {list(FAULT_MODES)}")
                rule = c.add_fault(
                    FaultRule(
                        mode=body["mode"],
                        count=body.get("count", 1),
                        namespace=body.get("namespace"),
                        label_selector=body.get("labelSelector"),
                        image=body.get("image"),
                    )
                )
                return _response(rule.to_dict(), 201)
        if what == "counters":
            if request.method == "DELETE":
                c.reset_counts()
                return _response({})
            if request.method == "GET":
                return _response(c.counters_json())
        if what == "config" and request.method in ("GET", "PATCH", "POST"):
            if request.method != "GET":
                body = await _json_body(request)
                for key in (
                    "ready_delay",
                    "latency",
                    "namespace_delete_delay",
                    "pod_delete_grace",
                    "fault_interval",
                ):
                    if isinstance(body, dict) and key in body:
                        setattr(c.config, key, body[key])
                if isinstance(body, dict) and "validate" in body:
                    c.config.validate = bool(body["validate"])
            return _response(vars(c.config))
        raise errors.no_route()


async def _json_body(request: web.Request, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise bad_request("the request body is empty")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from e


# ---------------------------------------------------------------- discovery


def _version() -> Obj:
    major, minor = SCHEMA_VERSION.split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{SCHEMA_VERSION}.0-coditect-standin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _resource_list(group: str, version: str) -> Obj:
    kinds = GROUPS.get(group, [])
    resources = []
    for k in kinds:
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        resources.append(
            {
                "name": k.plural,
                "singularName": k.kind.lower(),
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": verbs,
                "shortNames": list(k.short_names),
            }
        )
        if k.status_subresource:
            resources.append(
                {
                    "name": f"{k.plural}/status",
                    "singularName": "",
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _group(group: str) -> Obj:
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv],
        "preferredVersion": gv,
    }


def _group_list() -> Obj:
    groups = [_group(g) for g in GROUPS if g]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


# ---------------------------------------------------------------- KubeStandin


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
        return self.cluster.add_fault(FaultRule(mode, count, namespace, label_selector, image))

    def fail_pods(
        self,
        mode: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        image: str | None = None,
    ) -> FaultRule:
        """Every pod created from now on that matches the filters fails with `mode`."""
        return self.cluster.add_fault(FaultRule(mode, None, namespace, label_selector, image))

    def clear_faults(self) -> None:
        self.cluster.clear_faults()

    def faults(self) -> list[FaultRule]:
        return self.cluster.list_faults()

    # ---------------------------------------------------------- counters

    def counts(self) -> dict[tuple[str, str], int]:
        """API calls so far as {(verb, resource): n}, e.g. {("create", "pods"): 3}."""
        return self.cluster.counts_snapshot()

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
            return self.cluster.ns_counts_snapshot().get(namespace, 0)
        verbs = {verb} if isinstance(verb, str) else (set(verb) if verb is not None else None)
        return sum(
            n
            for (v, r), n in self.counts().items()
            if (verbs is None or v in verbs) and (resource is None or r == resource)
        )

    def calls_by_namespace(self) -> dict[str, int]:
        return self.cluster.ns_counts_snapshot()

    def reset_counts(self) -> None:
        self.cluster.reset_counts()

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
