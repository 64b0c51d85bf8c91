"""The Pub/Sub emulator (shipped with this machine image), started once for the session."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
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
