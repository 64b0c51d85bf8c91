"""Provisioner fixtures: the workspace fixtures plus a Reconciler built on a (flaky) gateway."""

from __future__ import annotations

from typing import Any

import pytest

from shared.provisioner.kube import KubeGateway
from shared.provisioner.reconciler import Reconciler
from shared.provisioner.theia import LlmAccess
from tests.workspaces.conftest import kube, make_user, platform, ws_settings  # noqa: F401


class Crash(Exception):
    """Injected: the process died right after an API call succeeded."""


class FlakyGateway(KubeGateway):
    """Counts API calls; ``crash_after=n`` raises after the n-th call has reached the server."""

    def __init__(self, api_client: Any, crash_after: int | None = None) -> None:
        super().__init__(api_client)
        self.calls: list[str] = []
        self.crash_after = crash_after

    def _tick(self, what: str) -> None:
        self.calls.append(what)
        if self.crash_after is not None and len(self.calls) == self.crash_after:
            raise Crash(f"injected crash after call {len(self.calls)}: {what}")

    def _call(self, verb: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._call(verb, kind, *args, **kwargs)
        finally:  # an error answer reached the server too
            self._tick(f"{verb} {kind}")

    def watch(self, kind: str, namespace: str, **kwargs: Any) -> Any:
        stream = super().watch(kind, namespace, **kwargs)
        self._tick(f"watch {kind}")
        return stream


@pytest.fixture
def make_reconciler(services, kube, ws_settings):  # noqa: F811
    services.replace_settings(workspaces=ws_settings)

    def make(
        crash_after: int | None = None, settings: Any = None
    ) -> tuple[Reconciler, FlakyGateway]:
        gateway = FlakyGateway(kube.api_client, crash_after)
        reconciler = Reconciler(
            services.db,
            services.clock,
            gateway,
            settings or ws_settings,
            public_url=services.settings.public_url,
            issuer=services.settings.issuer,
            llm=LlmAccess(services.settings.llm_public_url, services.llm_key_secret),
        )
        return reconciler, gateway

    return make
