"""What the reconciler's parts share: its state, outcomes, errors, and the lease check.

The reconciler (shared/provisioner/reconciler.py) is put together from three parts, each in its
own module: ``triage`` (message triage, claims and leases, recording the outcome), ``converge``
(the Kubernetes objects, step by step) and ``readiness`` (watching a starting pod).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.clock import Clock
from shared.provisioner import objects as o
from shared.provisioner.hooks import WorkspaceHooks
from shared.provisioner.kube import KubeGateway
from shared.provisioner.theia import LlmAccess
from shared.store import Database, Transaction
from shared.workspaces import model
from shared.workspaces.config import WorkspaceSettings
from shared.workspaces.model import WorkspaceRecord

log = logging.getLogger("coditect.provisioner")
Obj = dict[str, Any]


class Skip(StrEnum):
    """Why a message ended without converging anything."""

    INVALID = "invalid"  # no ids
    EXPIRED = "expired"  # older than any message still worth acting on
    UNKNOWN = "unknown"  # no such workspace
    STALE = "stale"  # an older generation than the record's
    DUPLICATE = "duplicate"  # this generation already settled
    BUSY = "busy"  # a live lease holder converges it (and re-reads the desired state)
    LEASE_LOST = "lease_lost"  # another invocation took over
    SUPERSEDED = "superseded"


class Finish(StrEnum):
    """What recording a convergence found."""

    DONE = "done"  # recorded; the lease is released
    STARTED = "started"  # as DONE, and the workspace just became ready (its start is measured)
    MOVED_ON = "moved_on"  # the desired state changed meanwhile: converge again
    LOST = "lost"  # the lease was taken over
    GONE = "gone"  # the record disappeared


class TemporaryError(Exception):
    """A retry can fix it: raised so Pub/Sub redelivers the message with backoff."""


class PermanentError(Exception):
    """A retry cannot fix it: recorded on the workspace; the message is acknowledged."""


@dataclass
class Result:
    status: str
    reason: str | None = None
    messages: list[str] = field(default_factory=list)


class Superseded(Exception):
    """The desired state changed while converging: converge again to the new one."""


class LeaseLost(Exception):
    """Another invocation took the workspace over (this one stalled past its lease)."""


class ReconcilerBase:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        kube: KubeGateway,
        settings: WorkspaceSettings,
        *,
        public_url: str,
        issuer: str,
        llm: LlmAccess,
        hooks: WorkspaceHooks | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.clock = clock
        self.kube = kube
        self.settings = settings
        self.public_url = public_url
        self.issuer = issuer
        self.llm = llm
        self.hooks = hooks
        self._wall = wall_clock

    # Provided by the parts (converge, readiness); declared here so each part can call them.
    def _converge(self, ws: WorkspaceRecord, token: str) -> Result:
        raise NotImplementedError

    def _fail(self, ws: WorkspaceRecord, reason: str) -> Result:
        raise NotImplementedError

    def _remove_compute(self, ws: WorkspaceRecord) -> None:
        raise NotImplementedError

    def _wait_ready(self, ws: WorkspaceRecord, token: str, pod: Obj, started: float) -> Result:
        raise NotImplementedError

    def _lease_ok(self, tr: Transaction, ws: WorkspaceRecord, token: str) -> bool:
        lease = model.load(
            tr.get(model.lease_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"]))
        )
        return bool(lease) and lease["holder"] == token

    def _url(self, ws: WorkspaceRecord) -> str:
        if self.hooks is not None:
            url = self.hooks.workspace_url(ws)
            if url:
                return url
        return f"{self.settings.url_scheme}://{o.workspace_host(ws['workspace_id'], self.settings)}"

    def _note(self, ws: WorkspaceRecord, messages: list[str]) -> None:
        if messages:
            self.db.transact(
                lambda tr: model.add_progress(tr, ws, self.clock.now(), list(messages))
            )

    def _check(self, ws: WorkspaceRecord, token: str, renew: bool) -> None:
        """Between waits: raise if the desired state moved on or the lease was taken."""
        ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])

        def look(tr: Transaction) -> str:
            if not self._lease_ok(tr, ws, token):
                return "lost"
            current = model.get(tr, *ids)
            if current is None or current["generation"] != ws["generation"]:
                return "superseded"
            if renew:
                expires = self.clock.now() + self.settings.lease_seconds
                tr.set(model.lease_key(*ids), model.dump({"holder": token, "expires": expires}))
            return "ok"

        state = self.db.transact(look)
        if state == "lost":
            raise LeaseLost
        if state == "superseded":
            raise Superseded

    def _remaining(self, started: float) -> float:
        return max(1.0, self.settings.invocation_budget_seconds - (time.monotonic() - started))
