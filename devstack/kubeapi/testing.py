"""Test helpers: a running stand-in plus typed API clients, for any conftest to reuse.

    # tests/whatever/conftest.py
    from devstack.kubeapi.testing import kube  # noqa: F401  (re-exported pytest fixture)

or build your own fixture around `kube_session(...)`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import pytest

from .server import KubeStandin

# Fast defaults for tests: pods Ready in 50 ms, namespaces gone 50 ms after delete.
TEST_DEFAULTS: dict[str, Any] = {
    "ready_delay": 0.05,
    "namespace_delete_delay": 0.05,
    "fault_interval": 0.05,
}


@dataclass
class Kube:
    server: KubeStandin
    api_client: kubernetes.client.ApiClient
    core: kubernetes.client.CoreV1Api
    networking: kubernetes.client.NetworkingV1Api
    rbac: kubernetes.client.RbacAuthorizationV1Api

    @property
    def url(self) -> str:
        return self.server.url

    @functools.cached_property
    def dynamic(self) -> Any:
        """`kubernetes.dynamic.DynamicClient`: sends dicts as-is. The typed APIs of kubernetes
        37 reject unknown fields client-side (pydantic), so use this to reach the server's own
        checks with a raw object."""
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client)

    def resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """Create a namespace and return its name."""
        self.core.create_namespace(
            kubernetes.client.V1Namespace(
                metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels)
            )
        )
        return name

    def wait_for(self, check: Callable[[], Any], timeout: float = 5.0, every: float = 0.01) -> Any:
        """Poll `check()` until it returns something truthy; its value is returned."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(every)

    def wait_for_pod_phase(
        self, namespace: str, name: str, phase: str, timeout: float = 5.0
    ) -> Any:
        return self.wait_for(
            lambda: (
                (p := self.core.read_namespaced_pod(name, namespace)).status
                and p.status.phase == phase
                and p
            ),
            timeout,
        )


@contextmanager
def kube_session(**options: Any) -> Iterator[Kube]:
    """Start a stand-in (TEST_DEFAULTS overridden by `options`) and yield typed clients."""
    server = KubeStandin(**{**TEST_DEFAULTS, **options})
    with server:
        api = server.api_client()
        yield Kube(
            server=server,
            api_client=api,
            core=kubernetes.client.CoreV1Api(api),
            networking=kubernetes.client.NetworkingV1Api(api),
            rbac=kubernetes.client.RbacAuthorizationV1Api(api),
        )


@pytest.fixture
def kube() -> Iterator[Kube]:
    """A fresh stand-in per test, with fast pod/namespace timings."""
    with kube_session() as k:
        yield k
