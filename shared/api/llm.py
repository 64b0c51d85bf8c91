"""The ``llm`` function: ``GET /api/llm/usage`` for the signed-in user (access token).

The OpenAI-compatible ``/api/llm/v1/*`` is the gateway service (shared.llm.gateway), not this.
"""

from __future__ import annotations

from typing import Any

from shared.api import schemas as s
from shared.llm.usage import UsageService
from shared.web import Reply, Router, bearer_token
from shared.wiring import Services, services

router = Router("llm")
# Built on first use for the process's Services (tests swap Services: a new one is built then).
_usage: tuple[Services, UsageService] | None = None


def usage_service(svc: Services) -> UsageService:
    global _usage
    if _usage is None or _usage[0] is not svc:
        _usage = (svc, UsageService(svc.db, svc.clock))
    return _usage[1]


@router.route(
    "GET",
    "/api/llm/usage",
    summary="The LLM usage of the caller's tenant for a month (YYYY-MM, default this month)",
    responses={200: s.LlmUsage},
    errors=(403, 422),
    query=("period",),
    auth="bearer",
)
def usage(request: Any) -> Reply:
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request))
    return Reply(200, usage_service(svc).report(claims, request.args.get("period")))


def handle(request: Any) -> Any:
    return router(request)
