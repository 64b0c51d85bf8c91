"""The one choke point: every request except the public routes is authenticated here.

``guard`` (an aiohttp middleware) accepts the session cookie or a workspace Bearer token for
this workspace's owner; otherwise HTTP gets 401 JSON (``WWW-Authenticate: Bearer``) and a
WebSocket upgrade 403, before anything reaches a handler, and a refused cookie is cleared. A
cookie-authenticated request must come from this workspace's own pages (``same_site_request``).
``on_prepare`` adds the renewed cookie (past half-life) and the CSP ``frame-ancestors`` to
every response as it is sent, so handlers never repeat any of this.

Why a cross-site request is refused although the cookie is ``SameSite=None``: the cookie must
reach the IDE inside the app's iframe, where only ``SameSite=None`` cookies are sent. So the
browser no longer filters cross-site requests for us and we do it, for every method and for
WebSocket upgrades: ``Sec-Fetch-Site`` must be ``same-origin`` or ``none`` (typed, bookmark),
except a GET/HEAD navigation (``Sec-Fetch-Mode: navigate``): the app's iframe loading the IDE,
or a link. Without Fetch metadata (Chromium sends none on WebSocket handshakes) ``Origin``,
when present, must be this host. Hosts are compared, not schemes: TLS ends at the ingress.
A foreign page framing the IDE gets neither the cookie (partitioned: its partition has none)
nor a rendered frame (``frame-ancestors``); a foreign form POST, fetch or WebSocket is refused
here even when the browser sends the cookie (a top-level POST navigation does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from .auth import AuthError, Principal
from .cookies import clear_session_cookie, set_session_cookie
from .logs import get_logger
from .state import SIDECAR, Sidecar, error_response

log = get_logger("sidecar")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PRINCIPAL = web.RequestKey("principal", Principal)
# A renewed session cookie (value, Max-Age) for the response, set as it is prepared.
RENEWAL = web.RequestKey("renewal", tuple)

_UNAUTHENTICATED = AuthError(
    "unauthenticated",
    "Open this workspace from the Coditect dashboard to sign in.",
    "missing",
)
_SAFE_NAVIGATION = frozenset({"GET", "HEAD"})


def is_upgrade(request: web.Request) -> bool:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return False
    tokens = request.headers.get("Connection", "").lower()
    return "upgrade" in (t.strip() for t in tokens.split(","))


def _strip_default_port(host: str) -> str:
    for suffix in (":80", ":443"):
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return host


def same_origin(request: web.Request) -> bool:
    """No ``Origin`` (not a browser request that carries one), or one naming this host."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and _strip_default_port(netloc) == _strip_default_port(request.host.lower())


def same_site_request(request: web.Request, websocket: bool) -> bool:
    """Whether a cookie-authenticated request may proceed (see the module docstring)."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        navigation = request.headers.get("Sec-Fetch-Mode", "").strip().lower() == "navigate"
        if websocket or not navigation or request.method not in _SAFE_NAVIGATION:
            return False
    if fetch_site and not websocket:
        return True
    return same_origin(request)


async def authenticate(sidecar: Sidecar, request: web.Request) -> Principal:
    error: AuthError | None = None
    cookie = request.cookies.get(sidecar.config.cookie_name)
    if cookie:
        try:
            return sidecar.authenticator.verify_session(cookie)
        except AuthError as exc:
            error = exc
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return await sidecar.authenticator.verify_bearer(token.strip())
    raise error or _UNAUTHENTICATED


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    sidecar = request.app[SIDECAR]
    if request.match_info.handler in sidecar.public_handlers:
        return await handler(request)
    websocket = is_upgrade(request)
    try:
        principal = await authenticate(sidecar, request)
    except AuthError as exc:
        sidecar.metrics.auth_failures.labels(exc.reason).inc()
        log.info(
            "request refused",
            extra={"reason": exc.reason, "path": request.path, "websocket": websocket},
        )
        if websocket:
            resp = error_response(403, exc.code, exc.message)
        else:
            resp = error_response(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"})
        if sidecar.config.cookie_name in request.cookies:
            clear_session_cookie(resp, sidecar.config.cookie_name)
        return resp
    if principal.via_cookie and not same_site_request(request, websocket):
        sidecar.metrics.auth_failures.labels("cross_site").inc()
        log.info(
            "cross-site request refused",
            extra={"path": request.path, "method": request.method, "websocket": websocket},
        )
        return error_response(
            403, "forbidden_origin", "This request came from a page on another site."
        )
    request[PRINCIPAL] = principal
    if principal.renew_session:
        request[RENEWAL] = sidecar.authenticator.issue_session(principal)
    return await handler(request)


def frame_ancestors(app_origin: str) -> str:
    return f"frame-ancestors 'self' {app_origin}"


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response gets, whoever built it: the renewed cookie and the CSP."""
    sidecar = request.app[SIDECAR]
    renewal = request.get(RENEWAL)
    if renewal is not None:
        set_session_cookie(response, sidecar.config.cookie_name, *renewal)
    if response.status != 101:
        # Its own header: the IDE's CSP, if any, still applies as well (both are enforced).
        response.headers.add("Content-Security-Policy", sidecar.csp)
