"""`make dev`'s stack, run as a user runs it: a new user's whole path, across a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from tests.conftest import ROOT, free_port

PASSWORD = "correct horse battery"


@contextmanager
def running_stack(data_dir: str, port: int) -> Iterator[str]:
    env = {**os.environ, "PORT": str(port), "CODITECT_DATA_DIR": data_dir, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader: threading.Thread | None = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops it"):
                break
        assert any(url in line for line in lines), "".join(lines)
        # Keep reading: a full pipe would block the stack's logging, and with it the stack.
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        if reader is not None:
            reader.join(timeout=10)  # it ends at the end of the output
        output = "".join(lines)
        assert process.returncode == 0, output
        assert "stopped." in output


def test_new_user_registers_logs_in_refreshes_and_survives_a_restart(tmp_path):
    data_dir = str(tmp_path / "data")
    port = free_port()
    with running_stack(data_dir, port) as url:
        assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        signup = requests.post(
            f"{url}/api/auth/register",
            timeout=10,
            json={"email": "new@example.com", "password": PASSWORD},
        )
        assert signup.status_code == 201
        login = requests.post(
            f"{url}/api/auth/login",
            timeout=10,
            json={"email": "new@example.com", "password": PASSWORD},
        )
        assert login.status_code == 200
        refreshed = requests.post(
            f"{url}/api/auth/refresh",
            timeout=10,
            json={"refresh_token": login.json()["refresh_token"]},
        )
        assert refreshed.status_code == 200
        me = requests.get(
            f"{url}/api/auth/me",
            timeout=10,
            headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
        )
        assert me.status_code == 200 and me.json()["user"]["email"] == "new@example.com"
        kid = requests.get(f"{url}/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"]
    with running_stack(data_dir, port) as url:
        again = requests.post(
            f"{url}/api/auth/login",
            timeout=10,
            json={"email": "new@example.com", "password": PASSWORD},
        )
        assert again.status_code == 200
        # The signing key was kept too: tokens from before the restart still verify.
        assert (
            requests.get(f"{url}/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"] == kid
        )
        me = requests.get(
            f"{url}/api/auth/me",
            timeout=10,
            headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
        )
        assert me.status_code == 200
