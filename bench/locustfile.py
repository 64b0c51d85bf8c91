"""What users do, as a Locust scenario (run by bench/load_test.py against the local stack).

Each simulated user signs up, then, with a pause of ``LOAD_WAIT_MIN``-``LOAD_WAIT_MAX`` seconds
between actions: lists workspaces (most often), reads their account, signs in again now and then,
and drives a workspace through its life: create, poll until ready, open it (launch), stop, poll
until stopped, start again. ``LOAD_LIFECYCLE_SHARE`` of the users run workspaces (each ready
workspace is two real processes locally, a sidecar and a placeholder IDE); the others only use
the API. Every response's status is counted per endpoint into ``LOAD_STATUS_FILE`` (JSON), so the
report separates expected refusals (409/429) from server errors.
"""

from __future__ import annotations

import json
import os
import random
import threading
import uuid
from collections import Counter, defaultdict
from typing import Any

from locust import HttpUser, between, events, task

PASSWORD = "load test password 1"
LIFECYCLE_SHARE = float(os.environ.get("LOAD_LIFECYCLE_SHARE", "0.2"))
WAIT = (float(os.environ.get("LOAD_WAIT_MIN", "1")), float(os.environ.get("LOAD_WAIT_MAX", "3")))
STATUS_FILE = os.environ.get("LOAD_STATUS_FILE", "")

_statuses: dict[str, Counter[str]] = defaultdict(Counter)
_lock = threading.Lock()


@events.request.add_listener
def _count(name: str, response: Any, exception: Any, request_type: str, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    key = str(status) if status else f"no answer ({type(exception).__name__})"
    with _lock:
        _statuses[f"{request_type} {name}"][key] += 1


@events.quitting.add_listener
def _write(**_: Any) -> None:
    if STATUS_FILE:
        with open(STATUS_FILE, "w") as fh:
            json.dump({k: dict(v) for k, v in _statuses.items()}, fh, indent=2)


class PlatformUser(HttpUser):
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        self.headers: dict[str, str] = {}
        self.workspace_id: str | None = None
        self.status = "none"
        self.runs_workspaces = random.random() < LIFECYCLE_SHARE
        body = {"email": self.email, "password": PASSWORD, "first_name": "Load"}
        with self.client.post(
            "/api/auth/register", json=body, name="/api/auth/register", catch_response=True
        ) as response:
            if response.status_code == 201:
                self._use_tokens(response.json())
                response.success()
            else:
                response.failure(f"sign-up answered {response.status_code}")

    def _use_tokens(self, body: dict[str, Any]) -> None:
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    @task(6)
    def list_workspaces(self) -> None:
        self.client.get("/api/workspaces", headers=self.headers, name="/api/workspaces")

    @task(2)
    def me(self) -> None:
        self.client.get("/api/auth/me", headers=self.headers, name="/api/auth/me")

    @task(1)
    def sign_in(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        with self.client.post(
            "/api/auth/login", json=body, name="/api/auth/login", catch_response=True
        ) as response:
            if response.status_code == 200:
                self._use_tokens(response.json())
                response.success()
            elif response.status_code == 429:
                response.success()  # the login throttle doing its job, not a failure

    @task(6)
    def workspace_step(self) -> None:
        if not self.runs_workspaces or not self.headers:
            return
        if self.workspace_id is None:
            with self.client.post(
                "/api/workspaces",
                json={"name": "main"},
                headers=self.headers,
                name="/api/workspaces [create]",
                catch_response=True,
            ) as response:
                if response.status_code == 202:
                    self._seen(response.json()["workspace"])
                    response.success()
            return
        path = f"/api/workspaces/{self.workspace_id}"
        if self.status == "ready":
            launch = self.client.post(
                f"{path}/launch", headers=self.headers, name="/api/workspaces/[id]/launch"
            )
            if launch.status_code == 200:
                stop = self.client.post(
                    f"{path}/stop", headers=self.headers, name="/api/workspaces/[id]/stop"
                )
                if stop.status_code == 202:
                    self._seen(stop.json()["workspace"])
            return
        if self.status == "stopped":
            with self.client.post(
                f"{path}/start",
                headers=self.headers,
                name="/api/workspaces/[id]/start",
                catch_response=True,
            ) as response:
                if response.status_code == 202:
                    self._seen(response.json()["workspace"])
                    response.success()
                elif response.status_code == 403:
                    response.success()  # the plan's monthly hours: a refusal users see
            return
        got = self.client.get(path, headers=self.headers, name="/api/workspaces/[id]")
        if got.status_code == 200:
            self._seen(got.json()["workspace"])

    def _seen(self, workspace: dict[str, Any]) -> None:
        self.workspace_id = workspace["workspace_id"]
        self.status = workspace["status"]
