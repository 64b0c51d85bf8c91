"""The web app on the local origin: a cached build of ``web/`` and the WSGI app that serves it.

``ensure_built()`` rebuilds only when ``web/package-lock.json`` or the app's sources changed (a
hash stamp in ``web/dist``), running ``npm ci`` first when the lockfile changed. ``WebApp`` serves
``/assets/*`` (hashed names, cached for a year) and ``index.html`` for every other path the API
does not own (client routes; never cached), with the headers production sets on the bucket.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import mimetypes
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("coditect.devstack.app")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(ROOT, "web")
DIST = os.path.join(WEB, "dist")
STAMP = ".build-stamp"
# What a build depends on; node_modules and dist are outputs.
SOURCES = (
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
)

# Workspaces are framed by the app: locally each sidecar is a 127.0.0.1 port or <id>.localhost.
LOCAL_FRAME_SOURCES = "http://127.0.0.1:* http://*.localhost:* https://*.localhost:*"


def content_hash(web: str = WEB) -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = os.path.join(web, name)
        if os.path.isdir(path):
            files = sorted(
                os.path.join(folder, f) for folder, _, names in os.walk(path) for f in names
            )
        else:
            files = [path]
        for file in files:
            if not os.path.exists(file):
                continue
            digest.update(os.path.relpath(file, web).encode() + b"\0")
            with open(file, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()[:16]


def _lock_hash(web: str) -> str:
    with open(os.path.join(web, "package-lock.json"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class BuildResult:
    built: bool  # False: the cached build was current
    content_hash: str
    seconds: float


def ensure_built(web: str = WEB, run: Callable[..., Any] = subprocess.run) -> BuildResult:
    """Build ``web/dist`` unless its stamp matches the sources; serialised by a file lock."""
    started = time.monotonic()
    with open(os.path.join(web, ".build-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two stacks starting at once build once
        wanted = content_hash(web)
        dist = os.path.join(web, "dist")
        if _read(os.path.join(dist, STAMP)) == wanted and os.path.exists(
            os.path.join(dist, "index.html")
        ):
            return BuildResult(False, wanted, time.monotonic() - started)
        modules_stamp = os.path.join(web, "node_modules", ".coditect-lock")
        if _read(modules_stamp) != _lock_hash(web):
            # --ignore-scripts: no package may fetch a binary at install time (esbuild and rollup
            # ship theirs as optional npm packages).
            run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=web,
                check=True,
            )
            with open(modules_stamp, "w") as fh:
                fh.write(_lock_hash(web))
        run(["npm", "run", "build", "--silent"], cwd=web, check=True)
        with open(os.path.join(dist, STAMP), "w") as fh:
            fh.write(wanted)
        return BuildResult(True, wanted, time.monotonic() - started)


def security_headers(frame_sources: str = LOCAL_FRAME_SOURCES) -> list[tuple[str, str]]:
    """The app's own headers: no inline script, framed by nobody, frames only workspaces."""
    csp = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            # Chakra's CSS-in-JS (emotion) inserts <style> elements at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"frame-src {frame_sources}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        )
    )
    return [
        ("Content-Security-Policy", csp),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]


Start = Callable[..., Any]


class WebApp:
    """Serves the built app from ``dist``: the static half of the one origin."""

    def __init__(self, dist: str = DIST) -> None:
        self.dist = dist

    def __call__(self, environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if path.startswith("/assets/"):
            name = os.path.normpath(path[len("/assets/") :])
            file = os.path.join(self.dist, "assets", name)
            if name.startswith(("..", "/")) or not os.path.isfile(file):
                return _error(start_response, "404 Not Found", "not_found", "no such asset")
            kind = mimetypes.guess_type(file)[0] or "application/octet-stream"
            # Hashed names: a changed file is a new name, so a year is safe.
            headers = [("Cache-Control", "public, max-age=31536000, immutable")]
            return _file(start_response, file, kind, headers, head)
        index = os.path.join(self.dist, "index.html")
        if not os.path.isfile(index):
            return _error(
                start_response,
                "503 Service Unavailable",
                "app_not_built",
                "the web app is not built: run `make web` (needs node 20 and npm)",
            )
        headers = [("Cache-Control", "no-cache"), *security_headers()]
        return _file(start_response, index, "text/html", headers, head)


def _file(
    start_response: Start, file: str, kind: str, headers: list[tuple[str, str]], head: bool
) -> list[bytes]:
    with open(file, "rb") as fh:
        body = fh.read()
    if kind.startswith(("text/", "application/javascript")):
        kind += "; charset=utf-8"
    start_response(
        "200 OK",
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            *headers,
        ],
    )
    return [b"" if head else body]


def _error(start_response: Start, status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]
