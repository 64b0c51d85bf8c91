"""Workspace-test fixtures (provisioner on the local bus, Kubernetes stand-in) for ops tests."""

from __future__ import annotations

from tests.workspaces.conftest import kube, make_user, platform, ws_settings  # noqa: F401
