"""The workspace API's logic: desired state in the store, a reconcile message after each change.

Every change is one transaction that re-checks ownership and plan limits; the reconcile message
is published after the commit (a retry of the same request re-publishes, which heals a publish
that was lost). Another user's workspace id is "not found" for every verb: records live under
``(tenant, user)`` and are looked up with the caller's verified ids only.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets as pysecrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license
from shared.accounts.sessions import check_token_fresh
from shared.accounts.users import get_user
from shared.claims import Claims
from shared.clock import Clock
from shared.digests import sha256_hex
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from shared.events import RECONCILE_TOPIC, EventsPort
from shared.ids import new_id
from shared.llm.keys import issue_workspace_key, revoke_workspace_key
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.workspaces import hours, model
from shared.workspaces.config import WorkspaceSettings, disk_gb
from shared.workspaces.model import WorkspaceRecord

log = logging.getLogger("coditect.workspaces")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$")
LAUNCH_TOKEN_SECONDS = 60
# Bearer tokens for a workspace host (typ "workspace"): short, asked for again when needed.
WORKSPACE_TOKEN_SECONDS = 15 * 60
# Heartbeats from a sidecar whose clock runs ahead are clamped to now.
ACTIVITY_SKEW_SECONDS = 60


class CreateWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use
    name: str = Field(min_length=1, max_length=63)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not NAME_RE.match(value):
            raise ValueError(
                "1-63 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
            )
        return value


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use
    last_active: datetime

    @field_validator("last_active")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. 2030-01-01T00:00:00Z)")
        return value


def hash_credential(credential: str) -> str:
    return sha256_hex(credential)


def publish_reconcile(
    events: EventsPort,
    tenant_id: str,
    workspace_id: str,
    reason: str,
    *,
    user_id: str | None = None,
    generation: int | None = None,
) -> str:
    """Ask the provisioner to converge one workspace (after the desired state was committed)."""
    data: dict[str, Any] = {"tenant_id": tenant_id, "workspace_id": workspace_id, "reason": reason}
    if user_id:
        data["user_id"] = user_id
    if generation is not None:
        data["generation"] = generation
    return events.publish(RECONCILE_TOPIC, data, {"workspace_id": workspace_id})


def publish_for(events: EventsPort, ws: WorkspaceRecord, reason: str, generation: int) -> str:
    """``publish_reconcile`` for a workspace record, naming the generation to converge to."""
    return publish_reconcile(
        events,
        ws["tenant_id"],
        ws["workspace_id"],
        reason,
        user_id=ws["user_id"],
        generation=generation,
    )


def stop_over_limit(
    tr: Transaction, tenant_id: str, user_id: str, running_limit: int, now: float
) -> list[str]:
    """Stop the user's newest running workspaces beyond ``running_limit`` (nothing is deleted).

    Runs in the caller's transaction and returns the ids stopped; the caller publishes
    :func:`publish_reconcile` for each after the commit.
    """
    running = [
        ws for ws in model.list_for_user(tr, tenant_id, user_id) if model.counts_as_running(ws)
    ]
    running.sort(
        key=lambda ws: (ws.get("start_requested_at") or ws["created_at"], ws["workspace_id"])
    )
    stopped = []
    for ws in running[max(0, running_limit) :]:
        model.set_desired(tr, ws, "stopped", now, reason="plan limit")
        stopped.append(ws["workspace_id"])
    # The plan (and so the month's hours) may have changed: check them by the new allowance.
    hours.reschedule(tr, tenant_id, user_id, now)
    return stopped


class WorkspaceService:
    def __init__(
        self,
        db: Database,
        events: EventsPort,
        clock: Clock,
        tokens: Any,
        settings: WorkspaceSettings,
        *,
        llm_key_secret: Callable[[], bytes] | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.clock = clock
        self.tokens = tokens
        self.settings = settings
        # Reads the secret workspace LLM keys are derived from (once; None: no LLM keys).
        self._read_llm_key_secret = llm_key_secret
        self._llm_key_secret: bytes | None = None

    def _llm_secret(self) -> bytes | None:
        if self._llm_key_secret is None and self._read_llm_key_secret is not None:
            self._llm_key_secret = self._read_llm_key_secret()
        return self._llm_key_secret

    # -- helpers ---------------------------------------------------------------------------------
    def _public(self, tr: Transaction, ws: WorkspaceRecord) -> dict[str, Any]:
        progress = model.get_progress(tr, ws["tenant_id"], ws["user_id"], ws["workspace_id"])
        return model.public(ws, progress, self.settings.retention_seconds)

    @staticmethod
    def _owned(tr: Transaction, claims: Claims, wid: str) -> WorkspaceRecord:
        ws = model.get(tr, claims["tid"], claims["sub"], wid)
        if ws is None:
            raise NotFound("no such workspace", code="workspace_not_found")
        return ws

    def _publish(self, ws: WorkspaceRecord, reason: str) -> None:
        publish_for(self.events, ws, reason, ws["generation"])

    @staticmethod
    def _check_running_limit(
        tr: Transaction, claims: Claims, now: float, exclude: str | None = None
    ) -> Any:
        plan = effective_plan(get_license(tr, claims["tid"]), now)
        mine = model.list_for_user(tr, claims["tid"], claims["sub"])
        running = sum(
            1 for ws in mine if model.counts_as_running(ws) and ws["workspace_id"] != exclude
        )
        if running >= plan.limits.running_workspaces:
            raise Forbidden(
                f"the {plan.name} plan allows {plan.limits.running_workspaces} running "
                "workspace(s); stop one or upgrade",
                code="plan_limit",
            )
        hours.check_allowance(tr, plan, claims["tid"], claims["sub"], now, mine)
        return plan, mine

    # -- verbs -----------------------------------------------------------------------------------
    def create(self, claims: Claims, body: CreateWorkspace) -> dict[str, Any]:
        tid, uid = claims["tid"], claims["sub"]
        wid = new_id()
        credential = pysecrets.token_urlsafe(32)
        llm_secret = self._llm_secret()  # outside the transaction: a Secret Manager call

        def write(tr: Transaction) -> tuple[WorkspaceRecord, dict[str, Any]]:
            now = self.clock.now()
            if get_user(tr, tid, uid) is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            if tr.get(model.name_key(tid, uid, body.name)) is not None:
                raise Conflict(
                    f"you already have a workspace named {body.name!r}", code="name_taken"
                )
            plan, mine = self._check_running_limit(tr, claims, now)
            size = disk_gb(plan)
            used = sum(ws["disk_gb"] for ws in mine if model.holds_storage(ws))
            if used + size > plan.limits.storage_gb:
                raise Forbidden(
                    f"the {plan.name} plan allows {plan.limits.storage_gb} GB of workspace "
                    f"storage and {used} GB is in use; delete a workspace or upgrade",
                    code="plan_limit",
                )
            ws: WorkspaceRecord = {
                "workspace_id": wid,
                "tenant_id": tid,
                "user_id": uid,
                "name": body.name,
                "desired": "running",
                "generation": 1,
                "observed_generation": 0,
                "status": "pending",
                "reason": None,
                "plan": plan.name,
                "disk_gb": size,
                "created_at": now,
                "start_requested_at": now,
                "running_since": None,
                "stopped_at": None,
                "last_active": None,
                "url": None,
                "activity_hash": hash_credential(credential),
            }
            model.save(tr, ws, None, now)
            tr.set(model.name_key(tid, uid, body.name), model.dump(wid))
            tr.set(model.owner_key(wid), model.dump({"tenant_id": tid, "user_id": uid}))
            # The provisioner puts this into the namespace's Secret; the record keeps a hash.
            tr.set(model.secret_key(tid, uid, wid), model.dump({"activity_token": credential}))
            if llm_secret is not None:
                # The workspace's LLM key; the provisioner re-derives it for Theia's settings.
                issue_workspace_key(tr, llm_secret, tid, uid, wid, now)
            model.add_progress(tr, ws, now, ["workspace requested"], reset=True)
            write_audit(tr, tid, now, "workspace.created", {"user_id": uid, "workspace_id": wid})
            return ws, self._public(tr, ws)

        ws, view = self.db.transact(write)
        self._publish(ws, "create")
        return view

    def list(self, claims: Claims) -> list[dict[str, Any]]:
        def read(tr: Transaction) -> list[dict[str, Any]]:
            mine = model.list_for_user(tr, claims["tid"], claims["sub"])
            live = [ws for ws in mine if ws["status"] != "deleted"]
            live.sort(key=lambda ws: (ws["created_at"], ws["workspace_id"]))
            return [self._public(tr, ws) for ws in live]

        return self.db.transact(read)

    def get(self, claims: Claims, wid: str) -> dict[str, Any]:
        return self.db.transact(lambda tr: self._public(tr, self._owned(tr, claims, wid)))

    def _change(self, claims: Claims, wid: str, desired: str) -> dict[str, Any]:
        def write(tr: Transaction) -> tuple[WorkspaceRecord, dict[str, Any]]:
            now = self.clock.now()
            ws = self._owned(tr, claims, wid)
            if ws["desired"] == "deleted" and desired != "deleted":
                raise Conflict("the workspace is being deleted", code="workspace_deleted")
            if ws["desired"] == desired and ws["status"] != "failed":
                return ws, self._public(tr, ws)  # already asked: answer again, re-publish
            # Asking again after a failure (a start, or a stop/delete that gave up) is a new
            # request: a new generation, so the provisioner does not drop it as a duplicate.
            if desired == "running":
                self._check_running_limit(tr, claims, now, exclude=wid)
            new = model.set_desired(tr, ws, desired, now, reason="by the user")
            if desired == "deleted":
                # The IDE's LLM key stops working with the delete, before the pod is gone.
                revoke_workspace_key(tr, claims["tid"], claims["sub"], wid)
            write_audit(
                tr,
                claims["tid"],
                now,
                f"workspace.{model.desired_verb(desired)}",
                {"user_id": claims["sub"], "workspace_id": wid},
            )
            return new, self._public(tr, new)

        ws, view = self.db.transact(write)
        if ws["status"] != "deleted":
            self._publish(ws, model.desired_verb(desired))
        return view

    def stop(self, claims: Claims, wid: str) -> dict[str, Any]:
        return self._change(claims, wid, "stopped")

    def start(self, claims: Claims, wid: str) -> dict[str, Any]:
        return self._change(claims, wid, "running")

    def delete(self, claims: Claims, wid: str) -> dict[str, Any]:
        return self._change(claims, wid, "deleted")

    def _ready_token(
        self, claims: Claims, wid: str, typ: str, ttl: int
    ) -> tuple[WorkspaceRecord, str]:
        """The caller's ready workspace and a token of ``typ`` for its host only."""

        def read(tr: Transaction) -> WorkspaceRecord:
            # A token issued before a sign-out everywhere (or a password change) mints nothing.
            check_token_fresh(get_user(tr, claims["tid"], claims["sub"]), claims)
            return self._owned(tr, claims, wid)

        ws = self.db.transact(read)
        if ws["status"] != "ready" or not ws.get("url"):
            raise Conflict(
                f"the workspace is {ws['status']}, not ready", code="workspace_not_ready"
            )
        token, _ = self.tokens.issue(
            typ=typ, sub=claims["sub"], tid=claims["tid"], aud="workspace:" + wid, ttl=ttl
        )
        return ws, token

    def launch(self, claims: Claims, wid: str) -> str:
        ws, token = self._ready_token(claims, wid, "launch", LAUNCH_TOKEN_SECONDS)
        # Principle 4: the one hop where a token travels in a URL; it lives 60 s, used once.
        return f"{(ws['url'] or '').rstrip('/')}/__coditect/launch?token={token}"

    def workspace_token(self, claims: Claims, wid: str) -> dict[str, Any]:
        """A short-lived Bearer token for this workspace's host only (CLI and API clients).

        Its audience is the workspace, so the sidecar accepts it and nothing else does; the
        platform's own access tokens are refused at the workspace host.
        """
        ws, token = self._ready_token(claims, wid, "workspace", WORKSPACE_TOKEN_SECONDS)
        return {
            "token": token,
            "token_type": "Bearer",
            "expires_in": WORKSPACE_TOKEN_SECONDS,
            "url": ws.get("url"),
        }

    # -- heartbeat from the sidecar --------------------------------------------------------------
    def record_activity(self, wid: str, credential: str, body: Activity) -> dict[str, Any]:
        """Record the sidecar's activity; answers the owner's ``sessions_valid_after`` (epoch
        seconds or null), which the sidecar applies to its IDE sessions (docs/sidecar.md)."""
        reported = body.last_active.timestamp()
        presented = hash_credential(credential)

        def write(tr: Transaction) -> None:
            ids = model.owner(tr, wid)
            if ids is None:
                raise NotFound("no such workspace", code="workspace_not_found")
            ws = model.get(tr, ids["tenant_id"], ids["user_id"], wid)
            if ws is None or not hmac.compare_digest(ws.get("activity_hash", ""), presented):
                raise Unauthorized("invalid workspace credential", code="invalid_credential")
            if ws["desired"] == "deleted":
                raise NotFound("no such workspace", code="workspace_not_found")
            if ws["desired"] != "running":
                return  # a late heartbeat from a stopping pod keeps nothing alive
            now = self.clock.now()
            if reported > now + ACTIVITY_SKEW_SECONDS:
                raise Unprocessable("last_active is in the future", code="invalid_last_active")
            stamp = min(reported, now)
            previous = ws.get("last_active") or 0
            # Never backwards, and at most one write a minute per workspace.
            if stamp < previous + self.settings.activity_write_seconds:
                return
            new: WorkspaceRecord = {**ws, "last_active": stamp}
            model.save(tr, new, ws, now)

        def valid_after(tr: Transaction) -> float | None:
            write(tr)
            ids = model.owner(tr, wid)
            user = get_user(tr, ids["tenant_id"], ids["user_id"]) if ids else None
            return user.get("sessions_valid_after") if user else None

        return {"sessions_valid_after": self.db.transact(valid_after)}
