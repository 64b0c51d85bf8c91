"""Fixtures for workspace tests: the real functions on the local origin, the provisioner function
subscribed to the local bus, and a Kubernetes API stand-in with fast pods."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.kubeapi.testing import Kube, kube_session
from shared.workspaces.config import WorkspaceSettings
from tests.conftest import register


@pytest.fixture
def ws_settings() -> WorkspaceSettings:
    return WorkspaceSettings(
        domain="ws.test",
        watch_tick_seconds=0.05,
        lease_seconds=30,
        max_attempts=4,
        invocation_budget_seconds=20,
    )


@pytest.fixture
def kube() -> Iterator[Kube]:
    with kube_session(ready_delay=0.1) as k:
        yield k


@pytest.fixture
def platform(services: Any, kube: Kube, ws_settings: WorkspaceSettings) -> Iterator[Any]:
    """Services with the workspace settings, the stand-in's client and the provisioner wired."""
    from devstack.workspaces import subscribe_provisioner

    services.replace_settings(workspaces=ws_settings)
    services.kube_api_client = kube.api_client
    subscribe_provisioner(
        services.events, max_attempts=ws_settings.max_attempts, min_backoff=0.05, max_backoff=0.2
    )
    yield services
    # Let deliveries in flight finish before the store is closed under them.
    services.events.drain(30)


class User:
    def __init__(self, api: Any, body: dict[str, Any]) -> None:
        self.api = api
        self.body = body
        self.user_id = body["user"]["user_id"]
        self.tenant_id = body["user"]["tenant_id"]

    @property
    def headers(self) -> dict[str, str]:
        # A fresh access token each time: tests move the clock by hours.
        from shared.wiring import services

        svc = services()
        token, _ = svc.tokens.issue(
            typ="access",
            sub=self.user_id,
            tid=self.tenant_id,
            aud=svc.settings.api_audience,
            ttl=svc.settings.access_token_seconds,
        )
        return {"Authorization": f"Bearer {token}"}

    def create(self, name: str = "main") -> Any:
        return self.api.post("/api/workspaces", json={"name": name}, headers=self.headers)

    def get(self, wid: str) -> Any:
        return self.api.get(f"/api/workspaces/{wid}", headers=self.headers)

    def post(self, wid: str, verb: str) -> Any:
        return self.api.post(f"/api/workspaces/{wid}/{verb}", headers=self.headers)

    def delete(self, wid: str) -> Any:
        return self.api.delete(f"/api/workspaces/{wid}", headers=self.headers)

    def workspace(self, wid: str) -> dict[str, Any]:
        response = self.get(wid)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["workspace"]


@pytest.fixture
def make_user(api: Any) -> Callable[..., User]:
    count = iter(range(1000))

    def make(email: str | None = None, **extra: Any) -> User:
        return User(api, register(api, email or f"user{next(count)}@example.com", **extra))

    return make


def wait_status(
    user: User, wid: str, wanted: str | tuple[str, ...], timeout: float = 10.0
) -> dict[str, Any]:
    wanted = (wanted,) if isinstance(wanted, str) else wanted
    deadline = time.monotonic() + timeout
    while True:
        ws = user.workspace(wid)
        if ws["status"] in wanted:
            return ws
        if time.monotonic() > deadline:
            raise AssertionError(f"workspace is {ws['status']}, wanted {wanted}: {ws}")
        time.sleep(0.02)
