"""The sidecar application: routes, and the guard in front of everything but the public ones.

Routes (no auth): ``/healthz``, ``/readyz``, ``/__coditect/launch``. Everything else passes
``guard.guard`` (cookie or workspace Bearer token for this workspace's owner, from this
workspace's own pages) before its handler runs. Our own authenticated routes:
``/__coditect/session``, ``/__coditect/activity.js`` (the input beacon) and
``POST /__coditect/activity`` (what it sends). What counts as activity: activity.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .activity import ActivityReporter, beacon_script
from .auth import Authenticator, AuthError
from .config import Config, origin_of
from .cookies import set_session_cookie
from .guard import PRINCIPAL, frame_ancestors, guard, is_upgrade, on_prepare
from .inject import SCRIPT_PATH, is_document_request, is_frame_request
from .logs import get_logger
from .metrics import Metrics
from .proxy import proxy_http, proxy_websocket
from .state import SIDECAR, Sidecar, error_response

log = get_logger("sidecar")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    cfg = request.app[SIDECAR].config
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection(cfg.upstream_host, cfg.upstream_port)
        writer.close()
    except (OSError, TimeoutError):
        return error_response(503, "upstream_unavailable", "The workspace IDE is not reachable.")
    return web.json_response({"status": "ready"})


async def launch(request: web.Request) -> web.Response:
    sidecar = request.app[SIDECAR]
    token = request.query.get("token", "")
    try:
        if not token:
            raise AuthError("missing_token", "The launch link has no token.", "missing")
        principal = await sidecar.authenticator.verify_launch(token)
    except AuthError as exc:
        sidecar.metrics.auth_failures.labels(exc.reason).inc()
        log.info("launch refused", extra={"reason": exc.reason})
        return error_response(401, exc.code, exc.message, {"Cache-Control": "no-store"})
    # 303 to "/": the token leaves the URL; no-referrer keeps it out of the next request too.
    resp = web.Response(
        status=303,
        headers={"Location": "/", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    set_session_cookie(
        resp, sidecar.config.cookie_name, *sidecar.authenticator.issue_session(principal)
    )
    sidecar.activity.touch("launch")
    log.info("launch accepted", extra={"user_id": principal.sub})
    return resp


async def session(request: web.Request) -> web.Response:
    """Session check and renewal for the IDE page; not activity, not proxied."""
    principal = request[PRINCIPAL]
    workspace_id = request.app[SIDECAR].config.workspace_id
    return web.json_response({"user_id": principal.sub, "workspace_id": workspace_id})


def _method_not_allowed(*allowed: str) -> web.Response:
    return error_response(
        405,
        "method_not_allowed",
        f"Use {' or '.join(allowed)} here.",
        {"Allow": ", ".join(allowed)},
    )


async def activity_script(request: web.Request) -> web.Response:
    """``activity.js``: the input beacon the sidecar injects into the IDE's documents."""
    sidecar = request.app[SIDECAR]
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed("GET", "HEAD")
    etag = '"' + hashlib.sha256(sidecar.beacon_js).hexdigest()[:16] + '"'
    headers = {
        # Private: it is behind our cookie. Revalidated after an hour by its ETag.
        "Cache-Control": "private, max-age=3600",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("If-None-Match", ""):
        resp = web.Response(status=304, headers=headers)
    else:
        resp = web.Response(
            body=sidecar.beacon_js,
            content_type="text/javascript",
            charset="utf-8",
            headers=headers,
        )
    return resp


async def activity_beacon(request: web.Request) -> web.Response:
    """``POST /__coditect/activity``: the user pressed a key, clicked, scrolled... in the page."""
    sidecar = request.app[SIDECAR]
    if request.method != "POST":
        return _method_not_allowed("POST")
    sidecar.activity.touch("input")
    # The beacon only fires while someone works: the guard's renewal keeps the cookie fresh.
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


async def proxy(request: web.Request) -> web.StreamResponse:
    sidecar = request.app[SIDECAR]
    metrics = sidecar.metrics
    if sidecar.active_connections >= sidecar.config.max_connections:
        metrics.rejected.labels("max_connections").inc()
        return error_response(
            503,
            "too_many_connections",
            "Too many open connections to this workspace.",
            {"Retry-After": "5"},
        )
    stats = metrics.stats
    if is_upgrade(request):
        # Neither the handshake nor any frame is activity (see activity.py).
        stats.active_ws += 1
        metrics.connections.labels("websocket").inc()
        try:
            return await proxy_websocket(request, sidecar, request[PRINCIPAL].started)
        finally:
            stats.active_ws -= 1
    # Opening or reloading the IDE is the user; the page's own fetches and assets are not.
    document = is_document_request(request.method, request.headers)
    if document:
        sidecar.activity.touch("navigation")
    # A framed IDE (the app's tab) needs the beacon as much as a top-level one.
    page = document or is_frame_request(request.method, request.headers)
    stats.active_http += 1
    metrics.connections.labels("http").inc()
    try:
        return await proxy_http(request, sidecar, page)
    finally:
        stats.active_http -= 1


class AccessLogger(AbstractAccessLogger):
    """Access log without query strings: the launch URL carries a token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        level = 10 if path in ("/healthz", "/readyz") else 20
        self.logger.log(
            level,
            "request",
            extra={
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": round(time * 1000, 2),
                "remote": request.remote,
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(10)


def create_app(config: Config) -> web.Application:
    metrics = Metrics()
    app = web.Application(client_max_size=1024**2, middlewares=[guard])
    holder: dict[str, aiohttp.ClientSession] = {}

    def platform_session() -> aiohttp.ClientSession:
        return holder["platform"]

    sidecar = Sidecar(
        config=config,
        metrics=metrics,
        upstream_base=config.upstream_url,
        upstream_timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=config.upstream_connect_timeout_seconds,
            sock_read=config.upstream_read_timeout_seconds,
        ),
        authenticator=Authenticator(config, platform_session),
        activity=ActivityReporter(
            config.activity_url,
            config.activity_token,
            config.activity_interval_seconds,
            config.activity_retry_base_seconds,
            platform_session,
            metrics,
        ),
        csp=frame_ancestors(config.app_origin or origin_of(config.jwks_url)),
        public_handlers=frozenset({healthz, readyz, launch}),
    )
    sidecar.beacon_js = beacon_script(config.activity_beacon_seconds)
    sidecar.activity.on_sessions_valid_after = sidecar.revoke_sessions
    app[SIDECAR] = sidecar
    app.on_response_prepare.append(on_prepare)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Upstream session: bytes pass untouched (no decompression, no cookie jar, no extra
        # default headers), and the connection count is bounded by max_connections, not here.
        sidecar._upstream_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        sidecar._platform_session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        holder["platform"] = sidecar._platform_session
        sidecar.activity.start()
        yield
        await sidecar.activity.stop()
        with contextlib.suppress(Exception):
            await sidecar._upstream_session.close()
            await sidecar._platform_session.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/__coditect/launch", launch)
    app.router.add_get("/__coditect/session", session)
    # Any method, so a wrong one gets 405 here instead of being proxied to the IDE.
    app.router.add_route("*", SCRIPT_PATH, activity_script)
    app.router.add_route("*", "/__coditect/activity", activity_beacon)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def runner_kwargs() -> dict[str, object]:
    """AppRunner settings shared by the server and the tests."""
    return {
        "access_log_class": AccessLogger,
        "handler_cancellation": False,
        # Request bodies are forwarded as sent, compressed or not.
        "auto_decompress": False,
        "shutdown_timeout": 1.0,
    }


__all__ = ["SIDECAR", "Sidecar", "create_app", "runner_kwargs"]
