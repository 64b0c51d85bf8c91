"""The local stack: every Cloud Function on one origin, wired to the local adapters.

The functions are loaded exactly as Cloud Functions loads them (functions-framework's
``create_app`` on ``functions/<name>/main.py``) and mounted under their public paths, served by
waitress (a production-grade WSGI server). The embedded store and local secrets live under
``CODITECT_DATA_DIR``; Pub/Sub is the in-process ``LocalEvents``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.settings import DevstackSettings
from shared import wiring
from shared.events import LocalEvents
from shared.settings import Settings

log = logging.getLogger("coditect.devstack")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class HttpFunction:
    name: str  # the folder under functions/ and the entry point's name
    prefixes: tuple[str, ...]  # public paths the load balancer sends to it


# The URL map of the production load balancer, in one place for the local origin too.
HTTP_FUNCTIONS = (
    HttpFunction("auth", ("/api/auth/", "/.well-known/jwks.json", "/api/openapi.json")),
    HttpFunction("oauth", ("/api/auth/oauth/",)),
    HttpFunction("billing", ("/api/billing/", "/api/plans")),
    HttpFunction("stripe_webhook", ("/webhooks/stripe",)),
    HttpFunction("workspaces", ("/api/workspaces",)),
    HttpFunction("llm", ("/api/llm/usage",)),
)
# Not a function: the LLM gateway (an aiohttp service on Cloud Run), relayed by the local origin.
LLM_GATEWAY_PREFIX = "/api/llm/v1/"


# Local parts started after the functions, in this order: each is ``start(stack) -> stop`` and
# adds a line to ``stack.started`` saying what it runs. Each module is imported only when started
# (some are heavy: an OIDC server, localstripe, the Kubernetes stand-in).
Component = Callable[["LocalStack"], Callable[[], None]]


def _component(module: str, function: str) -> Component:
    def start(stack: LocalStack) -> Callable[[], None]:
        return getattr(importlib.import_module(module), function)(stack)

    start.__name__ = f"{module}.{function}"
    return start


COMPONENTS: list[Component] = [
    _component("devstack.oauth", "start_oauth_stand_ins"),  # Google OIDC mock, GitHub fake
    _component("devstack.billing", "start_billing"),  # localstripe, Checkout/Portal pages
    # Before workspaces: its hooks must be in place when the first workspace turns ready.
    _component("devstack.dataplane", "start"),  # a real sidecar per ready workspace
    # Provider stand-ins and the gateway; before workspaces, whose pods are given its URL.
    _component("devstack.llm", "start"),
    _component("devstack.workspaces", "start"),  # Kubernetes stand-in, provisioner, idle timer
    _component("devstack.mail", "announce"),  # where verification mails go (the local outbox)
]


# Paths the functions own; every other GET is the web app (as the load balancer's default route).
API_PATHS = ("/api/", "/webhooks/", "/.well-known/")


def load_function(name: str, target: str | None = None) -> Any:
    import functions_framework

    source = os.path.join(ROOT, "functions", name, "main.py")
    return functions_framework.create_app(target or name, source)


class Dispatcher:
    """Routes each request to the function that owns its path: one origin, many functions."""

    def __init__(
        self,
        routes: list[tuple[str, WsgiApp]],
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes] | None = None,
    ):
        from devstack.app import WebApp

        # Longest prefix first, as a URL map matches the most specific path.
        self._routes = sorted(routes, key=lambda r: len(r[0]), reverse=True)
        self._health = health
        self._metrics = metrics  # the Prometheus text of the stack's metrics (devstack.metrics)
        self._web = WebApp()
        # Set once every component is wired: before that, a paid sign-up would find billing
        # missing and a launch would find no sidecar, so nothing is answered half-configured.
        self.ready = threading.Event()
        self.ready.set()  # LocalStack.start clears it until its components are wired

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics" and self._metrics is not None:
            return self._metrics_page(start_response)  # also while starting: watch it start
        if not self.ready.is_set():
            return self._json(
                start_response,
                "503 Service Unavailable",
                {"error": {"code": "starting", "message": "the local stack is still starting"}},
                [("Retry-After", "1")],
            )
        if path in ("/healthz", "/readyz") and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._json(
                start_response,
                "405 Method Not Allowed",
                {"error": {"code": "method_not_allowed", "message": "method not allowed"}},
                [("Allow", "GET, HEAD")],
            )
        if path == "/readyz":  # what scripts wait on: 200 only once every component started
            return self._json(start_response, "200 OK", {**self._health(), "status": "ready"})
        for prefix, app in self._routes:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return app(environ, start_response)
        if path == "/healthz":
            return self._json(start_response, "200 OK", self._health())
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and not path.startswith(API_PATHS):
            return self._web(environ, start_response)  # the app: /, its routes, /assets/*
        return self._json(
            start_response,
            "404 Not Found",
            {"error": {"code": "not_found", "message": f"no route for {path}"}},
        )

    def _metrics_page(self, start_response: Callable[..., Any]) -> list[bytes]:
        from devstack.metrics import CONTENT_TYPE

        assert self._metrics is not None
        body = self._metrics()
        start_response(
            "200 OK",
            [
                ("Content-Type", CONTENT_TYPE),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    @staticmethod
    def _json(
        start_response: Callable[..., Any],
        status: str,
        body: Any,
        headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                *(headers or []),
            ],
        )
        return [data]


@dataclass
class LocalStack:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 16
    # The local stack's own settings (ports of stand-ins, timers).
    dev: DevstackSettings = field(default_factory=DevstackSettings.from_env)
    # Open connections waitress serves at once. Its default (100, counting its own sockets) left
    # the 99th concurrent client unanswered; 500 users each holding a keep-alive connection fit.
    connection_limit: int = 1000
    # The local parts to start; tests of one area start only theirs.
    components: list[Component] = field(default_factory=lambda: list(COMPONENTS))
    started: list[str] = field(default_factory=list)
    # The LLM gateway's own listener, set by its component (the origin relays to it).
    llm_gateway_url: str | None = None

    def __post_init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.services: wiring.Services | None = None
        self._stops: list[Callable[[], None]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> Dispatcher:
        from devstack import metrics

        routes: list[tuple[str, WsgiApp]] = []
        for fn in HTTP_FUNCTIONS:
            app = load_function(fn.name)
            routes.extend((prefix, app) for prefix in fn.prefixes)
        from devstack.llm import origin_relay  # aiohttp: imported when the stack is built

        routes.append((LLM_GATEWAY_PREFIX, origin_relay(self)))
        # Every recording of this process goes to the registry served at /metrics.
        sink = metrics.install(self)
        return Dispatcher(routes, self.health, sink.exposition)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "components": self.started}

    def start(self) -> None:
        import waitress

        self._build_web_app()
        # Each provisioner delivery waits for its pod, so workers bound concurrent starts.
        events = LocalEvents(workers=self.dev.event_workers)
        self.services = wiring.build(self.settings, events=events)
        wiring.install(self.services)
        store = "FoundationDB" if self.settings.fdb_cluster_file else "embedded store"
        self.started.append(f"{store} ({os.path.abspath(self.settings.data_dir)})")
        self.started.append("local Pub/Sub delivery (in-process CloudEvents)")
        app = self.build_app()
        app.ready.clear()
        self.started.extend(
            f"function {fn.name}: {', '.join(fn.prefixes)}" for fn in HTTP_FUNCTIONS
        )
        self.started.append("metrics (Prometheus text): /metrics")
        self._server = waitress.create_server(
            app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            connection_limit=self.connection_limit,
            # poll(), not select(): select() fails on descriptors above 1023.
            asyncore_use_poll=True,
            ident="coditect",
        )
        self.port = self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        try:
            for component in self.components:
                self._stops.append(component(self))
        except BaseException:
            self.stop()  # what started so far, so a failed start leaves nothing running
            raise
        app.ready.set()

    def _build_web_app(self) -> None:
        """Build the app if its sources changed (cached otherwise); without npm, / says so."""
        from devstack.app import ensure_built

        if not self.dev.web_build:
            self.started.append("web app: not built (CODITECT_WEB_BUILD=0)")
            return
        try:
            result = ensure_built()
        except (OSError, subprocess.CalledProcessError) as failure:
            log.warning("the web app could not be built: %s", failure)
            self.started.append("web app: build failed (see the log); / answers 503")
            return
        state = f"built in {result.seconds:.1f} s" if result.built else "cached build"
        self.started.append(f"web app at / ({state}, {result.content_hash})")

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.services is not None:
            events = self.services.events
            if isinstance(events, LocalEvents):
                events.close()
            self.services.db.close()
            wiring.install(None)
            self.services = None
            from shared import metrics

            metrics.use_sinks(metrics.LogSink())
