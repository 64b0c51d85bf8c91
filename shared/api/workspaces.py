"""The workspace function: /api/workspaces/* (create, list, get, stop, start, delete, launch) and
the sidecar's activity heartbeat."""

from __future__ import annotations

from typing import Any

from shared.accounts.scopes import Scope
from shared.tokens import Claims
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import services
from shared.workspaces.service import Activity, CreateWorkspace, WorkspaceService

router = Router("workspaces")


def _caller(request: Any, scope: Scope = "workspaces") -> tuple[Claims, WorkspaceService]:
    """The caller and the service; reads need ``read``, changes ``workspaces`` (API tokens)."""
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request), scope=scope)
    return claims, svc.workspaces


@router.route("POST", "/api/workspaces")
def create(request: Any) -> Reply:
    claims, workspaces = _caller(request)
    body = read_json(request, CreateWorkspace)
    return Reply(202, {"workspace": workspaces.create(claims, body)})


@router.route("GET", "/api/workspaces")
def list_workspaces(request: Any) -> Reply:
    claims, workspaces = _caller(request, "read")
    return Reply(200, {"workspaces": workspaces.list(claims)})


@router.route("GET", "/api/workspaces/{workspace_id}")
def get(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request, "read")
    return Reply(200, {"workspace": workspaces.get(claims, workspace_id)})


@router.route("POST", "/api/workspaces/{workspace_id}/stop")
def stop(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.stop(claims, workspace_id)})


@router.route("POST", "/api/workspaces/{workspace_id}/start")
def start(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.start(claims, workspace_id)})


@router.route("DELETE", "/api/workspaces/{workspace_id}")
def delete(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.delete(claims, workspace_id)})


@router.route("POST", "/api/workspaces/{workspace_id}/launch")
def launch(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(200, {"url": workspaces.launch(claims, workspace_id)})


@router.route("POST", "/api/workspaces/{workspace_id}/token")
def workspace_token(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(200, workspaces.workspace_token(claims, workspace_id))


@router.route("POST", "/api/workspaces/{workspace_id}/activity")
def activity(request: Any, workspace_id: str) -> Reply:
    # The sidecar's workspace credential, not a user token: it can only report activity.
    credential = bearer_token(request)
    body = read_json(request, Activity, max_bytes=1024)
    return Reply(200, services().workspaces.record_activity(workspace_id, credential, body))


def handle(request: Any) -> Any:
    return router(request)
