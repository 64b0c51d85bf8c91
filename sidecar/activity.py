"""User activity: what counts, the page's input beacon, and the heartbeat to the platform.

Activity means a person is using the IDE, not that bytes are moving. An open tab that nobody
touches must let its workspace go idle, and IDE frontends talk a lot on their own (Theia's
connection-status service sends a JSON-RPC ping every few seconds while the backend is quiet,
in a format that changes across versions). So the sidecar counts *input*, never traffic.

What counts (keeps the workspace alive):
  * input beacons from the page: ``POST /__coditect/activity``, sent by ``activity.js`` (served
    at ``/__coditect/activity.js`` and injected into every HTML document the sidecar proxies
    for a navigation, top-level or framed, as in the app's IDE tabs) when the user presses a
    key, clicks, scrolls, touches, types or pastes in that document - at most once per
    ``ACTIVITY_BEACON_SECONDS``;
  * top-level document navigations: opening or reloading the IDE (a request with
    ``Sec-Fetch-Dest: document``, or without that header an ``Accept`` naming ``text/html``);
  * the launch itself (``/__coditect/launch`` with a valid token).

What does not count:
  * any WebSocket frame in either direction: editor traffic, JSON-RPC pings, ping/pong,
    engine.io heartbeats, close frames, server pushes; and the WebSocket handshake;
  * background HTTP requests: XHR/fetch, asset and font loads, long-polling, frame loads
    (a framed page gets the beacon, but loading it is not input);
  * the sidecar's own endpoints other than the two above: ``/healthz``, ``/readyz`` (kubelet
    probes), ``/__coditect/session``, ``/__coditect/activity.js``; refused requests; TCP
    keep-alives.

Limits of this rule: input inside a cross-origin iframe (Theia webviews) does not reach the top
document's listeners, and a client that is not a browser counts only through a beacon, a
navigation-like request or a launch. An IDE page that blocks our script (a CSP without
``'self'`` in ``script-src``) produces no beacons and goes idle while in use.

Reporting: ``touch()`` only stores a timestamp. A background task posts at most one heartbeat per
interval - ``{"last_active": ISO-8601 UTC}`` - retrying 429, 5xx and connection errors with
exponential backoff and jitter (at least ``Retry-After`` when the platform sends one), each
attempt carrying the latest activity time; any other 4xx is logged and dropped. Requests never
wait for it. The platform may answer 200 with ``{"sessions_valid_after": <epoch seconds>}``:
sessions of this workspace's user that began earlier are revoked (see auth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
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
        # Called with the reply's ``sessions_valid_after``, when it carries one.
        self.on_sessions_valid_after: Callable[[float], None] = lambda _: None

    def touch(self, source: str) -> None:
        """Record user activity now (``source``: input, navigation or launch); never waits."""
        self._metrics.activity_signals.labels(source).inc()
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
            if self._last_active is None:
                continue
            self._last_sent = time.monotonic()
            if not await self._send():
                # Not delivered: keep it pending so the next cycle reports it.
                self._pending = True
                self._wake.set()

    async def _send(self) -> bool:
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = aiohttp.ClientTimeout(total=10)
        deadline = time.monotonic() + max(self._interval, 5 * self._retry_base)
        attempt = 0
        while True:
            attempt += 1
            # The latest activity on every attempt: input during the backoff is not lost.
            last_active = self._last_active or time.time()
            stamp = datetime.fromtimestamp(last_active, tz=UTC).isoformat().replace("+00:00", "Z")
            status: int | None = None
            retry_after: str | None = None
            try:
                session = self._session_factory()
                async with session.post(
                    self._url, json={"last_active": stamp}, headers=headers, timeout=timeout
                ) as resp:
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    if status == 200:
                        self._read_reply(await resp.read())
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
            if status is not None and 400 <= status < 500 and status != 429:
                # Our request is wrong (revoked credential, workspace gone): retrying won't help.
                self._metrics.heartbeats.labels("dropped").inc()
                log.error("activity heartbeat rejected", extra={"status": status})
                return True
            if status is not None:
                log.warning(
                    "activity heartbeat failed", extra={"status": status, "attempt": attempt}
                )
            self._metrics.heartbeats.labels("retry").inc()
            delay = self._backoff(attempt, retry_after)
            if time.monotonic() + delay > deadline:
                self._metrics.heartbeats.labels("failed").inc()
                return False
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Exponential, capped at 30 s, with jitter (half to all of it) so that sidecars
        refused together do not retry together; never sooner than a ``Retry-After`` in seconds."""
        ceiling = min(self._retry_base * 2 ** (attempt - 1), 30.0)
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        return delay

    def _read_reply(self, body: bytes) -> None:
        try:
            reply = json.loads(body) if body else None
        except ValueError:
            return
        valid_after = reply.get("sessions_valid_after") if isinstance(reply, dict) else None
        if isinstance(valid_after, int | float) and not isinstance(valid_after, bool):
            self.on_sessions_valid_after(float(valid_after))


# The input beacon. Capture phase on window, so an editor that stops propagation still lets us
# see the event; passive, so scrolling is never delayed. Everything is wrapped: a failed beacon
# must never surface as an error in the IDE.
#
# First, a storage fallback: a browser that blocks third-party storage (Chromium with third-party
# cookies blocked, incognito) denies localStorage to the IDE framed in the app's tab, and Theia's
# frontend does not start without it. The page then gets an in-memory Storage (its layout and
# recent state last as long as the page). Runs before the IDE's scripts (the tag is not deferred).
_BEACON_JS = """\
// Coditect: storage for a framed IDE whose browser blocks third-party storage.
(() => {
  "use strict";
  for (const name of ["localStorage", "sessionStorage"]) {
    try { if (window[name]) continue; } catch (e) {}
    const data = new Map();
    const storage = {
      get length() { return data.size; },
      key: (i) => Array.from(data.keys())[i] ?? null,
      getItem: (k) => (data.has(String(k)) ? data.get(String(k)) : null),
      setItem: (k, v) => { data.set(String(k), String(v)); },
      removeItem: (k) => { data.delete(String(k)); },
      clear: () => { data.clear(); },
    };
    try {
      Object.defineProperty(window, name, { value: storage, configurable: true });
    } catch (e) {}
  }
})();
// Coditect: tells the workspace that someone is using it (key, pointer, wheel, touch, input).
(() => {
  "use strict";
  if (window.__coditectActivity) return;
  window.__coditectActivity = true;
  const THROTTLE_MS = %(throttle_ms)d;
  let last = -Infinity;
  const beat = () => {
    const now = performance.now();
    if (now - last < THROTTLE_MS) return;
    last = now;
    try {
      fetch("/__coditect/activity", {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        cache: "no-store",
      }).catch(() => {});
    } catch (e) {}
  };
  const options = { capture: true, passive: true };
  for (const type of [
    "keydown", "mousedown", "pointerdown", "wheel", "touchstart", "input", "paste",
  ]) {
    window.addEventListener(type, beat, options);
  }
})();
"""


def beacon_script(throttle_seconds: float) -> bytes:
    """``activity.js`` with the throttle rendered in (``ACTIVITY_BEACON_SECONDS``)."""
    return (_BEACON_JS % {"throttle_ms": round(throttle_seconds * 1000)}).encode()
