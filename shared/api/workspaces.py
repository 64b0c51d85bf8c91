"""The workspace function: /api/workspaces/* (create, list, get, stop, start, delete, launch) and
the sidecar's activity heartbeat."""

from __future__ import annotations

from typing import Any

from shared.accounts.scopes import Scope
from shared.claims import Claims
from shared.web import Reply, Router, bearer_token, read_json
from shared.wiring import services
from shared.workspaces.service import Activity, CreateWorkspace, WorkspaceService

router = Router("workspaces")


def _caller(request: Any, scope: Scope = "workspaces") -> tuple[Claims, WorkspaceService]:
    """The caller and the service; reads need ``read``, changes ``workspaces`` (API tokens)."""
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request), scope=scope)
    return claims, svc.workspaces


@router.route(
    "POST",
    "/api/workspaces",
    summary="Create a workspace within the plan's limits",
    body=CreateWorkspace,
    responses={202: "WorkspaceEnvelope"},
    errors=(403, 409),
    auth="bearer",
)
def create(request: Any) -> Reply:
    claims, workspaces = _caller(request)
    body = read_json(request, CreateWorkspace)
    return Reply(202, {"workspace": workspaces.create(claims, body)})


@router.route(
    "GET",
    "/api/workspaces",
    summary="The caller's workspaces",
    responses={200: "WorkspaceList"},
    auth="bearer",
)
def list_workspaces(request: Any) -> Reply:
    claims, workspaces = _caller(request, "read")
    return Reply(200, {"workspaces": workspaces.list(claims)})


@router.route(
    "GET",
    "/api/workspaces/{workspace_id}",
    summary="Status, progress, url, last activity",
    responses={200: "WorkspaceEnvelope"},
    errors=(404,),
    auth="bearer",
)
def get(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request, "read")
    return Reply(200, {"workspace": workspaces.get(claims, workspace_id)})


@router.route(
    "POST",
    "/api/workspaces/{workspace_id}/stop",
    summary="Stop (the files are kept)",
    responses={202: "WorkspaceEnvelope"},
    errors=(404, 409),
    auth="bearer",
)
def stop(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.stop(claims, workspace_id)})


@router.route(
    "POST",
    "/api/workspaces/{workspace_id}/start",
    summary="Start again within the plan's limits",
    responses={202: "WorkspaceEnvelope"},
    errors=(403, 404, 409),
    auth="bearer",
)
def start(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.start(claims, workspace_id)})


@router.route(
    "DELETE",
    "/api/workspaces/{workspace_id}",
    summary="Delete, storage included",
    responses={202: "WorkspaceEnvelope"},
    errors=(404, 409),
    auth="bearer",
)
def delete(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(202, {"workspace": workspaces.delete(claims, workspace_id)})


@router.route(
    "POST",
    "/api/workspaces/{workspace_id}/launch",
    summary="A one-time launch URL for the IDE (ready workspaces only)",
    responses={200: "Url"},
    errors=(404, 409),
    auth="bearer",
)
def launch(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(200, {"url": workspaces.launch(claims, workspace_id)})


@router.route(
    "POST",
    "/api/workspaces/{workspace_id}/token",
    summary="A short-lived bearer token for the workspace's host only",
    responses={200: "WorkspaceToken"},
    errors=(404, 409),
    auth="bearer",
)
def workspace_token(request: Any, workspace_id: str) -> Reply:
    claims, workspaces = _caller(request)
    return Reply(200, workspaces.workspace_token(claims, workspace_id))


@router.route(
    "POST",
    "/api/workspaces/{workspace_id}/activity",
    summary="The sidecar's activity heartbeat",
    body=Activity,
    responses={204: None},
    errors=(404,),
    auth="workspace",
)
def activity(request: Any, workspace_id: str) -> Reply:
    # The sidecar's workspace credential, not a user token: it can only report activity.
    credential = bearer_token(request)
    body = read_json(request, Activity, max_bytes=1024)
    return Reply(200, services().workspaces.record_activity(workspace_id, credential, body))


def handle(request: Any) -> Any:
    return router(request)
