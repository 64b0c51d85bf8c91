"""Ready means ready: what a script sees when it waits on /readyz, from a cold start and after a
restart of `python -m devstack`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

import requests

from tests.conftest import ROOT, free_port
from tests.dataplane.conftest import (
    PASSWORD,
    STACK_ENV,
    Stack,
    loopback,
    start_stack,
    stop_stack,
)

COLD_STARTS = 3


def launch(data_dir: str, port: int, output: str) -> Stack:
    """``python -m devstack`` without waiting for anything: the script does the waiting."""
    env = {**os.environ, **STACK_ENV, "PORT": str(port), "CODITECT_DATA_DIR": data_dir}
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
    return Stack(f"http://127.0.0.1:{port}", data_dir, process, output)


def wait_ready(stack: Stack, within: float = 120) -> list[tuple[int, str | None, str]]:
    """What the README tells scripts to do: poll /readyz until 200. Returns the refusals seen
    (status, Retry-After, error code): keeping the responses would keep their sockets open."""
    refusals = []
    deadline = time.monotonic() + within
    while True:
        assert stack.process.poll() is None, stack.log()[-3000:]
        assert time.monotonic() < deadline, stack.log()[-3000:]
        try:
            answer = requests.get(f"{stack.url}/readyz", timeout=10)
        except (requests.ConnectionError, requests.Timeout):  # not listening yet; a busy machine
            time.sleep(0.05)
            continue
        if answer.status_code == 200:
            assert answer.json()["status"] == "ready"
            return refusals
        refusals.append(
            (answer.status_code, answer.headers.get("Retry-After"), answer.json()["error"]["code"])
        )
        time.sleep(0.05)


def me(stack: Stack, token: str) -> dict[str, Any]:
    answer = requests.get(
        f"{stack.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_paid_signup_right_after_readyz_gets_the_paid_plan_every_time(tmp_path):
    for attempt in range(COLD_STARTS):
        folder = tmp_path / f"cold{attempt}"
        folder.mkdir()
        stack = launch(str(folder / "data"), free_port(), str(folder / "stack.log"))
        try:
            refusals = wait_ready(stack)
            # At once, as a script would: no sleep between ready and the sign-up.
            signup = requests.post(
                f"{stack.url}/api/auth/register",
                json={
                    "email": f"paid-{uuid.uuid4().hex[:8]}@example.com",
                    "password": PASSWORD,
                    "plan": "starter",
                    "payment_method_id": "pm_card_visa",
                },
                timeout=30,
            )
            assert signup.status_code == 201, signup.text
            subscription = signup.json()["subscription"]
            assert subscription["status"] == "active", (subscription, stack.log()[-3000:])
            token = signup.json()["access_token"]
            deadline = time.monotonic() + 30
            while me(stack, token)["plan"] != "starter":  # the plan turns paid by webhook
                assert time.monotonic() < deadline, (me(stack, token), stack.log()[-3000:])
                time.sleep(0.1)
            assert me(stack, token)["license"]["status"] == "active"
        finally:
            stop_stack(stack)
        # Anything asked before ready was told to come back, never half answered.
        assert set(refusals) <= {(503, "1", "starting")}, refusals


def test_after_a_restart_every_launch_url_handed_out_answers(tmp_path):
    data_dir, port = str(tmp_path / "data"), free_port()
    first = start_stack(data_dir, port, str(tmp_path / "first.log"))
    try:
        owner = first.register()
        wids = [first.create(owner, "one")]
        second_user = first.register()
        wids_of = {wids[0]: owner, first.create(second_user, "two"): second_user}
        for wid, headers in wids_of.items():
            first.wait_status(headers, wid, "ready")
    finally:
        stop_stack(first)

    second = launch(data_dir, port, str(tmp_path / "second.log"))
    try:
        wait_ready(second)
        launched = 0
        until = time.monotonic() + 8  # past the provisioner's resync of both workspaces
        while time.monotonic() < until:
            for wid, headers in wids_of.items():
                # Generous timeouts: this machine may be slow; what matters is that it answers.
                base = f"{second.url}/api/workspaces/{wid}"
                ws = requests.get(base, headers=headers, timeout=60).json()["workspace"]
                # Recorded ready at once: the stack was not ready before their sidecars were.
                assert ws["status"] == "ready", ws
                answer = requests.post(f"{base}/launch", headers=headers, timeout=60)
                assert answer.status_code == 200, answer.text
                target, host = loopback(answer.json()["url"])
                hop = requests.get(target, headers=host, allow_redirects=False, timeout=60)
                assert hop.status_code == 303 and hop.headers["Location"] == "/", hop.text
                launched += 1
            time.sleep(0.05)
        assert launched >= 10
    finally:
        stop_stack(second)
