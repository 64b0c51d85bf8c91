"""The ``llm`` function: ``GET /api/llm/usage`` for the signed-in user (access token).

The OpenAI-compatible ``/api/llm/v1/*`` is the gateway service (shared.llm.gateway), not this.
"""

from __future__ import annotations

from typing import Any

from shared.web import Reply, Router, bearer_token
from shared.wiring import services

router = Router("llm")


@router.route(
    "GET",
    "/api/llm/usage",
    summary="The LLM usage of the caller's tenant for a month (YYYY-MM, default this month)",
    responses={200: "LlmUsage"},
    errors=(403, 422),
    query=("period",),
    auth="bearer",
)
def usage(request: Any) -> Reply:
    svc = services()
    claims = svc.accounts.authenticate(bearer_token(request))
    return Reply(200, svc.llm_usage.report(claims, request.args.get("period")))


def handle(request: Any) -> Any:
    return router(request)
