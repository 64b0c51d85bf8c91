"""The two local processes of a workspace (its IDE and ``python -m sidecar``): their environment,
start, readiness and end. :mod:`devstack.dataplane` decides when; this module knows how.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from devstack import dataplane_ide
from devstack.dataplane_ide import IdeKind

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
# The sidecar's own tuning variables may be set for local runs as CODITECT_SIDECAR_<NAME>
# (e.g. CODITECT_SIDECAR_ACTIVITY_INTERVAL_SECONDS=2); identity, keys and ports are ours.
PASS_THROUGH_PREFIX = "CODITECT_SIDECAR_"
OWNED = frozenset(
    {
        "WORKSPACE_ID",
        "USER_ID",
        "TENANT_ID",
        "JWKS_URL",
        "TOKEN_ISSUER",
        "ACTIVITY_URL",
        "ACTIVITY_TOKEN",
        "ACTIVITY_TOKEN_FILE",
        "UPSTREAM_URL",
        "LISTEN_HOST",
        "LISTEN_PORT",
        "METRICS_HOST",
        "METRICS_PORT",
        "APP_ORIGIN",
    }
)
# Only these of the stack's environment reach the children: no platform secret does.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
READY_TIMEOUT_SECONDS = {"theia": 60.0, "placeholder": 20.0}
# Locally a stop should be quick: open WebSockets get this long before they are closed.
SHUTDOWN_GRACE_SECONDS = 2.0


class StartFailed(Exception):
    """A process exited or never became ready; the message points at the log file."""


@dataclass
class Running:
    ws: dict[str, Any]
    port: int
    ide_port: int
    metrics_port: int
    ide: subprocess.Popen[bytes]
    sidecar: subprocess.Popen[bytes]
    log_path: str
    ide_kind: IdeKind

    def alive(self) -> bool:
        return self.ide.poll() is None and self.sidecar.poll() is None


def base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What every child gets: the inherited variables and this checkout on ``PYTHONPATH``."""
    base = {k: environ[k] for k in INHERITED if k in environ}
    base.update(PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    return base


def pass_through(environ: Mapping[str, str]) -> dict[str, str]:
    """``CODITECT_SIDECAR_<NAME>`` as ``<NAME>``, except the variables the data plane owns."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith(PASS_THROUGH_PREFIX):
            name = key[len(PASS_THROUGH_PREFIX) :]
            if name and name not in OWNED:
                out[name] = value
    return out


def spawn_python(args: list[str], env: dict[str, str], out: BinaryIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_ready(running: Running) -> None:
    """Until the IDE serves its page and the sidecar's ``/readyz`` (it reaches the IDE) is 200,
    as the pod's two readiness probes."""
    url = f"http://{HOST}:{running.port}/readyz"
    limit = READY_TIMEOUT_SECONDS[running.ide_kind]
    deadline = time.monotonic() + limit
    ide_answers = False
    while time.monotonic() < deadline:
        for name, proc in (("IDE", running.ide), ("sidecar", running.sidecar)):
            if proc.poll() is not None:
                raise StartFailed(
                    f"the local {running.ide_kind} {name} exited with status "
                    f"{proc.returncode}; see {running.log_path}"
                )
        ide_answers = ide_answers or dataplane_ide.answers(HOST, running.ide_port)
        if ide_answers:
            try:
                with _DIRECT.open(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.05)
    what = "sidecar" if ide_answers else f"{running.ide_kind} IDE"
    raise StartFailed(f"the local {what} was not ready after {limit:g} s; see {running.log_path}")


def terminate(group: list[Running]) -> None:
    """SIGTERM, a grace period, then SIGKILL; sidecars first, then the IDEs behind them (each
    IDE's whole process group: Theia's watcher and terminal shells too)."""
    for attr in ("sidecar", "ide"):
        procs: list[subprocess.Popen[bytes]] = [getattr(r, attr) for r in group]
        for proc in procs:
            if attr == "ide":
                dataplane_ide.signal_group(proc, signal.SIGTERM)
            elif proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS + 5
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if attr == "ide":
                dataplane_ide.kill_group(proc)  # whatever of its group is left


# Loopback never goes through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
