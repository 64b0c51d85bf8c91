"""The idle-cleanup function, called by Cloud Scheduler with an OIDC token
(shared/workspaces/scheduler_auth.py); the local stack calls the cleanup on a timer instead."""

from __future__ import annotations

import logging
from typing import Any

from shared.web import Reply, Router, bearer_token
from shared.wiring import services

log = logging.getLogger("coditect.idle_cleanup")
router = Router("idle_cleanup")


@router.route(
    "POST",
    "/",
    summary="Stop idle workspaces (Cloud Scheduler, with an OIDC token)",
    responses={200: None},
    errors=(403,),
    auth="bearer",
    internal=True,
)
def run(request: Any) -> Reply:
    svc = services()
    svc.scheduler_auth.check(bearer_token(request))
    return Reply(200, {"result": svc.idle_cleanup.run()})


def handle(request: Any) -> Any:
    return router(request)
