"""The Pub/Sub emulator: started once for the session from this machine image's install, or, when
``PUBSUB_EMULATOR_HOST`` is already set (Cloud Build runs the emulator image as a build-step
service), the one running there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port

EMULATOR = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"


def emulator_path() -> str | None:
    gcloud = shutil.which("gcloud")
    candidates = [EMULATOR]
    if gcloud:
        root = os.path.dirname(os.path.dirname(os.path.realpath(gcloud)))
        candidates.append(os.path.join(root, "platform/pubsub-emulator/bin/cloud-pubsub-emulator"))
    return next((c for c in candidates if os.path.exists(c)), None)


def push_host() -> str:
    """Where the emulator can reach this process's push endpoint.

    Loopback for an emulator this session started; for one in another container, this
    container's address on the shared network (``CODITECT_PUSH_HOST`` overrides).
    """
    if not os.environ.get("CODITECT_EXTERNAL_EMULATOR"):
        return "127.0.0.1"
    return os.environ.get("CODITECT_PUSH_HOST") or socket.gethostbyname(socket.gethostname())


def wait_until_serving(host: str, timeout: float = 60.0) -> None:
    """An emulator started beside the tests may still be booting: its REST root says "Ok"."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://{host}/", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Pub/Sub emulator at {host} did not answer within {timeout:g} s")


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    external = os.environ.get("PUBSUB_EMULATOR_HOST")
    if external:
        wait_until_serving(external)
        os.environ["CODITECT_EXTERNAL_EMULATOR"] = "1"
        yield external
        os.environ.pop("CODITECT_EXTERNAL_EMULATOR", None)
        return
    path = emulator_path()
    if path is None:
        if os.environ.get("CODITECT_REQUIRE_EMULATOR"):
            pytest.fail("the Pub/Sub emulator is required here but is not installed")
        pytest.skip("the Pub/Sub emulator (google-cloud-cli-pubsub-emulator) is not installed")
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="pubsub-emulator-")
    log = open(os.path.join(data_dir, "emulator.log"), "w+")
    process = subprocess.Popen(
        [path, "--host=127.0.0.1", f"--port={port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        if "Server started" in log.read():
            break
        if process.poll() is not None:
            pytest.fail("the Pub/Sub emulator exited at start")
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the Pub/Sub emulator did not start within 60 s")
    host = f"127.0.0.1:{port}"
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    yield host
    if previous is None:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    else:
        os.environ["PUBSUB_EMULATOR_HOST"] = previous
    os.killpg(process.pid, 15)
    process.wait(timeout=10)
    log.close()
    shutil.rmtree(data_dir, ignore_errors=True)
