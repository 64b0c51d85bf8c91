"""What the handlers share, stored on the app under ``SIDECAR``; imported by app, guard and proxy.

Kept apart from ``app.py`` so the proxy can use it without importing the routes (no cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from .activity import ActivityReporter
from .auth import Authenticator
from .config import Config
from .metrics import Metrics
from .wsplice import CLOSE_POLICY_VIOLATION, Splice


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


@dataclass
class Sidecar:
    config: Config
    metrics: Metrics
    upstream_base: str
    upstream_timeout: aiohttp.ClientTimeout
    authenticator: Authenticator
    activity: ActivityReporter
    # Open WebSockets, each with the start of the session that opened it (0: Bearer).
    splices: dict[Splice, float] = field(default_factory=dict)
    beacon_js: bytes = b""
    # Added to every response: CSP frame-ancestors naming the app's origin (see guard.py).
    csp: str = ""
    # Handlers the guard lets through without credentials (probes, the launch).
    public_handlers: frozenset[object] = frozenset()
    _upstream_session: aiohttp.ClientSession | None = None
    _platform_session: aiohttp.ClientSession | None = None

    @property
    def upstream_session(self) -> aiohttp.ClientSession:
        assert self._upstream_session is not None, "app not started"
        return self._upstream_session

    def platform_session(self) -> aiohttp.ClientSession:
        assert self._platform_session is not None, "app not started"
        return self._platform_session

    @property
    def active_connections(self) -> int:
        stats = self.metrics.stats
        return stats.active_http + stats.active_ws

    def close_websockets(self) -> None:
        for splice in list(self.splices):
            splice.close_gracefully()

    def revoke_sessions(self, valid_after: float) -> None:
        """The platform revoked sessions started before ``valid_after``: close their sockets."""
        self.authenticator.sessions_valid_after = max(
            self.authenticator.sessions_valid_after, valid_after
        )
        for splice, started in list(self.splices.items()):
            if started and started < valid_after:
                splice.close_gracefully(CLOSE_POLICY_VIOLATION, "session revoked")


SIDECAR = web.AppKey("sidecar", Sidecar)
