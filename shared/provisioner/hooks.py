"""Hooks the local stack installs into the provisioner: its data plane runs a real sidecar per
ready workspace. Production installs none (the cluster's pods are the data plane)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class WorkspaceHooks(Protocol):
    def workspace_url(self, ws: Any) -> str | None:
        """The workspace's URL, called in the transaction that records ``ready``."""
        ...

    def on_status(self, ws: Any, status: str) -> None:
        """Called after ready/stopped/failed/deleted is committed."""
        ...


class InstalledHooks:
    """Looks the hooks up on each call, so the local stack may install them at any time."""

    def __init__(self, current: Callable[[], WorkspaceHooks | None]) -> None:
        self._current = current

    def workspace_url(self, ws: Any) -> str | None:
        hooks = self._current()
        return hooks.workspace_url(ws) if hooks is not None else None

    def on_status(self, ws: Any, status: str) -> None:
        hooks = self._current()
        if hooks is not None:
            hooks.on_status(ws, status)
