"""Theia's settings for a workspace pod: the tenant's plan's models through the LLM gateway,
with the workspace's own LLM key (docs/llm.md, docs/ide.md).

The key is re-derived from its id and the derivation secret (the store keeps only its SHA-256);
a workspace created before LLM keys existed is issued one here. The provisioner may not read
Secrets, so the settings Secret is rendered from the store on every start and replaced whole:
a plan change reaches it at the workspace's next converge. The local data plane renders a
workspace's ``settings.json`` with the same function (``workspace_settings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.accounts.licenses import get_license
from shared.llm import keys
from shared.llm.theia_settings import models_for_plan, render_settings
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.workspaces import model
from shared.workspaces.model import WorkspaceRecord


@dataclass(frozen=True)
class LlmAccess:
    gateway_url: str  # where pods reach the gateway (Settings.llm_public_url, ends in /v1)
    key_secret: Callable[[], bytes]  # the derivation secret of workspace LLM keys


class WorkspaceGone(Exception):
    """The workspace was deleted meanwhile: no key is issued for it."""


def plan_and_key(
    tr: Transaction, secret: bytes, ws: WorkspaceRecord, now: float
) -> tuple[str, str]:
    """The tenant's current plan and the workspace's LLM key (issued if it has none yet)."""
    tid, uid, wid = ws["tenant_id"], ws["user_id"], ws["workspace_id"]
    plan = effective_plan(get_license(tr, tid), now)
    key = keys.workspace_key(tr, secret, tid, uid, wid)
    if key is None:
        current = model.get(tr, tid, uid, wid)
        if current is None or current["desired"] == "deleted":
            raise WorkspaceGone(wid)  # its key was revoked with the delete: never re-issued
        key = keys.issue_workspace_key(tr, secret, tid, uid, wid, now)
    return plan.name, key


def settings_for(plan: str, gateway_url: str, key: str) -> dict[str, Any]:
    return render_settings(models_for_plan(plan), gateway_url, key)


def workspace_settings(
    db: Database, secret: bytes, gateway_url: str, ws: WorkspaceRecord, now: float
) -> dict[str, Any]:
    """Theia's settings for ``ws`` (its tenant's plan, its key), read in a transaction of their
    own; raises ``WorkspaceGone`` for a deleted workspace."""
    plan, key = db.transact(lambda tr: plan_and_key(tr, secret, ws, now))
    return settings_for(plan, gateway_url, key)
