"""User activity tracking and the heartbeat to the platform.

What counts as activity (keeps the workspace alive):
  * every proxied HTTP request from the client (any method, any path that reaches the IDE);
  * every client->upstream WebSocket *data* frame (text, binary, continuation) - typing, clicks,
    file operations, terminal input all travel this way in Theia.

What does not count:
  * WebSocket control frames in either direction: ping, pong, close;
  * anything upstream->client (server pushes, log streaming, file-watcher events, LSP
    diagnostics): the IDE talking to an idle tab is not the user;
  * engine.io/socket.io heartbeats: a client->upstream text frame whose whole payload is "2"
    (ping, engine.io v3) or "3" (pong, v4). Theia's socket.io transport answers server pings
    with these from an untouched tab, so counting them would keep it alive forever;
  * the sidecar's own endpoints: /healthz, /readyz (kubelet probes), /__coditect/* (launch and
    session renewal), and failed authentications;
  * TCP keep-alives and the WebSocket handshake itself (a reconnecting tab is not a user).

Periodic polling is a judgment call: other periodic client->upstream traffic (an HTTP poll, an
application-level keep-alive message in a data frame) cannot be told apart from user input at
this layer, so it counts. Theia does not poll over HTTP after load, and its only periodic
client frames are the engine.io heartbeats excluded above.

Reporting: ``touch()`` only stores a timestamp (cheap enough for the relay's hot path). A
background task posts at most one heartbeat per interval - ``{"last_active": ISO-8601 UTC}`` -
retrying 5xx and connection errors with exponential backoff; a 4xx is logged and dropped.
Traffic never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from .logs import get_logger
from .metrics import Metrics

log = get_logger("sidecar.activity")


class ActivityReporter:
    def __init__(
        self,
        url: str,
        token: str,
        interval: float,
        retry_base: float,
        session_factory: Callable[[], aiohttp.ClientSession],
        metrics: Metrics,
    ) -> None:
        self._url = url
        self._token = token
        self._interval = interval
        self._retry_base = retry_base
        self._session_factory = session_factory
        self._metrics = metrics
        self._last_active: float | None = None
        self._pending = False
        self._wake = asyncio.Event()
        self._last_sent = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def touch(self) -> None:
        """Record user activity now. Called on the hot path: no await, no allocation."""
        self._last_active = time.time()
        if not self._pending:
            self._pending = True
            self._wake.set()

    @property
    def last_active(self) -> float | None:
        return self._last_active

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="activity-reporter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # Batch: wait out the rest of the interval since the last heartbeat.
            delay = self._last_sent + self._interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wake.clear()
            self._pending = False
            last_active = self._last_active
            if last_active is None:
                continue
            self._last_sent = time.monotonic()
            if not await self._send(last_active):
                # Not delivered: keep it pending so the next cycle reports it.
                self._pending = True
                self._wake.set()

    async def _send(self, last_active: float) -> bool:
        stamp = datetime.fromtimestamp(last_active, tz=UTC).isoformat().replace("+00:00", "Z")
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = aiohttp.ClientTimeout(total=10)
        deadline = time.monotonic() + max(self._interval, 5 * self._retry_base)
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            try:
                session = self._session_factory()
                async with session.post(
                    self._url, json={"last_active": stamp}, headers=headers, timeout=timeout
                ) as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "activity heartbeat failed",
                    extra={"error": type(exc).__name__, "attempt": attempt},
                )
            if status is not None and 200 <= status < 300:
                self.sent += 1
                self._metrics.heartbeats.labels("ok").inc()
                self._metrics.last_activity.set(last_active)
                log.info("activity heartbeat sent", extra={"last_active": stamp})
                return True
            if status is not None and 400 <= status < 500:
                # Our request is wrong (revoked credential, workspace gone): retrying won't help.
                self._metrics.heartbeats.labels("dropped").inc()
                log.error("activity heartbeat rejected", extra={"status": status})
                return True
            if status is not None:
                log.warning(
                    "activity heartbeat failed", extra={"status": status, "attempt": attempt}
                )
            self._metrics.heartbeats.labels("retry").inc()
            backoff = min(self._retry_base * 2 ** (attempt - 1), 30.0)
            if time.monotonic() + backoff > deadline:
                self._metrics.heartbeats.labels("failed").inc()
                return False
            await asyncio.sleep(backoff)
