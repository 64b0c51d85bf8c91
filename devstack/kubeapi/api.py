"""The HTTP front of the Kubernetes API stand-in (aiohttp): routing, verbs, watch streams, and
the stand-in's own admin endpoints under /_standin."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from . import discovery, errors
from .cluster import Cluster
from .errors import ApiError, bad_request
from .faults import FAULT_MODES, FaultRule
from .kinds import BY_PATH, GROUPS, NAMESPACE, Kind

log = logging.getLogger("devstack.kubeapi")

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
            return _response(discovery.version())
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
                return _response(discovery.resource_list("", "v1"))
            return await self._resource(request, "", "v1", parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return _response(discovery.group_list())
            group = parts[1]
            if group not in GROUPS or group == "":
                raise errors.no_route()
            if len(parts) == 2:
                return _response(discovery.group(group))
            if parts[2] != "v1":
                raise errors.no_route()
            if len(parts) == 3:
                return _response(discovery.resource_list(group, "v1"))
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
        c.calls.count(verb, resource, count_ns)
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
                return _response({"faults": [f.to_dict() for f in c.faults.list()]})
            if request.method == "DELETE":
                c.faults.clear()
                return _response({"faults": []})
            if request.method == "POST":
                body = await _json_body(request)
                if not isinstance(body, dict) or body.get("mode") not in FAULT_MODES:
                    raise bad_request(f"body needs mode, one of {list(FAULT_MODES)}")
                rule = c.faults.add(
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
                c.calls.reset()
                return _response({})
            if request.method == "GET":
                return _response(c.calls.to_json())
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
