"""`python -m devstack` as a user runs it, with its local data plane: helpers to drive it over HTTP.

The stack's output goes to a file (not a pipe nobody reads, which would fill up and stall it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import requests
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.conftest import ROOT, free_port

PASSWORD = "correct horse battery"
# Short heartbeat interval and beacon throttle and fast pods, passed to the stack (and by it to
# each sidecar).
ACTIVITY_INTERVAL = 1.0
STACK_ENV = {
    "KUBE_STANDIN_READY_DELAY": "0.2",
    "CODITECT_SIDECAR_ACTIVITY_INTERVAL_SECONDS": str(ACTIVITY_INTERVAL),
    "CODITECT_SIDECAR_ACTIVITY_BEACON_SECONDS": "0.5",
    "PYTHONUNBUFFERED": "1",
}


def loopback(url: str) -> tuple[str, dict[str, str]]:
    """A workspace URL (``http://<id>.localhost:<port>/...``) as ``requests`` can reach it: the
    same URL on 127.0.0.1, and the ``Host`` header naming the workspace host. (Chromium resolves
    ``*.localhost`` itself; this machine's resolver does not.)"""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}")), {"Host": parts.netloc}


class LocalhostResolver(AbstractResolver):
    """``*.localhost`` is loopback (RFC 6761), as in Chromium; aiohttp asks the system, which
    does not know that here."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        assert host == "localhost" or host.endswith(".localhost"), host
        import socket

        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


def local_session(secure_origin: str | None = None) -> aiohttp.ClientSession:
    """An aiohttp client for workspace hosts; with ``secure_origin`` its cookie jar treats that
    origin as secure, as Chromium treats ``*.localhost`` (so ``Secure`` cookies work)."""
    jar = aiohttp.CookieJar(treat_as_secure_origin=[secure_origin] if secure_origin else [])
    connector = aiohttp.TCPConnector(resolver=LocalhostResolver())
    return aiohttp.ClientSession(cookie_jar=jar, connector=connector)


@dataclass
class Stack:
    url: str
    data_dir: str
    process: subprocess.Popen[bytes]
    output: str

    def log(self) -> str:
        with open(self.output, errors="replace") as fh:
            return fh.read()

    def state(self, wid: str) -> dict[str, Any] | None:
        """The data plane's record of what runs for a workspace (pids, ports), if anything."""
        try:
            with open(os.path.join(self.data_dir, "dataplane", f"{wid}.json")) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None

    def state_for_url(self, url: str) -> dict[str, Any]:
        """The data plane's record of the workspace served at ``url`` (its sidecar origin)."""
        folder = os.path.join(self.data_dir, "dataplane")
        for name in os.listdir(folder):
            if name.endswith(".json") and name != "ports.json":
                with open(os.path.join(folder, name)) as fh:
                    state = json.load(fh)
                if state.get("url") == url.rstrip("/"):
                    return dict(state)
        raise AssertionError(f"no local workspace serves {url}")

    def sidecar_metrics(self, state: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], float]:
        """The workspace sidecar's Prometheus samples: (name, label values) -> value."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(f"http://127.0.0.1:{state['metrics_port']}/metrics", timeout=5).text
        return {
            (sample.name, tuple(sample.labels.values())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def ports(self) -> dict[str, int]:
        with open(os.path.join(self.data_dir, "dataplane", "ports.json")) as fh:
            return json.load(fh)

    def register(self, email: str | None = None) -> dict[str, str]:
        email = email or f"dev-{uuid.uuid4().hex[:8]}@example.com"
        response = requests.post(
            f"{self.url}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 201, response.text
        return {"Authorization": "Bearer " + response.json()["access_token"]}

    def create(self, headers: dict[str, str], name: str = "dev") -> str:
        response = requests.post(
            f"{self.url}/api/workspaces", json={"name": name}, headers=headers, timeout=10
        )
        assert response.status_code == 202, response.text
        return str(response.json()["workspace"]["workspace_id"])

    def get(self, headers: dict[str, str], wid: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/workspaces/{wid}", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json()["workspace"])

    def post(self, headers: dict[str, str], wid: str, verb: str) -> requests.Response:
        return requests.post(
            f"{self.url}/api/workspaces/{wid}/{verb}", json={}, headers=headers, timeout=10
        )

    def wait_status(
        self, headers: dict[str, str], wid: str, status: str, within: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            ws = self.get(headers, wid)
            if ws["status"] == status:
                return ws
            assert ws["status"] != "failed", ws
            assert time.monotonic() < deadline, f"still {ws['status']}: {ws}\n{self.log()[-3000:]}"
            time.sleep(0.05)

    def launch(self, headers: dict[str, str], wid: str) -> str:
        response = self.post(headers, wid, "launch")
        assert response.status_code == 200, response.text
        return str(response.json()["url"])


def wait_until(predicate: Any, within: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met within {within} s"
        time.sleep(0.05)


def start_stack(
    data_dir: str, port: int, output: str, extra_env: dict[str, str] | None = None
) -> Stack:
    env = {**os.environ, **STACK_ENV, "PORT": str(port), "CODITECT_DATA_DIR": data_dir}
    env.update(extra_env or {})
    env.pop("KUBECONFIG", None)
    with open(output, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = Stack(f"http://127.0.0.1:{port}", data_dir, process, output)
    deadline = time.monotonic() + 180  # a first run builds the web app and the IDE
    while "Ctrl-C stops it" not in stack.log().rsplit("Coditect local stack on", 1)[-1]:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the stack did not start:\n{stack.log()}")
        time.sleep(0.1)
    return stack


def stop_stack(stack: Stack) -> None:
    stack.process.send_signal(signal.SIGINT)
    try:
        code = stack.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise
    assert code == 0, stack.log()[-5000:]
    assert stack.log().rstrip().endswith("stopped."), stack.log()[-3000:]


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("dataplane")
    running = start_stack(str(base / "data"), free_port(), str(base / "stack.log"))
    try:
        yield running
    finally:
        stop_stack(running)


def pid_alive(pid: int) -> bool:
    """True while the process exists (and is not a reaped zombie of someone else)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
