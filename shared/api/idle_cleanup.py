"""The idle-cleanup function, called by Cloud Scheduler with an OIDC token.

The token must be a Google-signed ID token for this function's audience, issued to the
scheduler's service account (verified email). The verifier is injectable so tests check
accept/refuse with their own signing keys; the local stack calls the cleanup on a timer instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.errors import Forbidden, Unauthorized
from shared.web import Reply, Router, bearer_token
from shared.wiring import services

log = logging.getLogger("coditect.idle_cleanup")
router = Router("idle_cleanup")

Verifier = Callable[[str, str], dict[str, Any]]


def google_verifier(token: str, audience: str) -> dict[str, Any]:
    """Google's ID-token check: signature against Google's certs, issuer, audience, expiry."""
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    return id_token.verify_oauth2_token(token, google_requests.Request(), audience)


class SchedulerAuth:
    def __init__(self, audience: str, service_account: str, verify: Verifier | None = None) -> None:
        self.audience = audience
        self.service_account = service_account
        self._verify = verify or google_verifier

    def check(self, token: str) -> dict[str, Any]:
        if not self.audience or not self.service_account:
            # Fail closed: without a configured caller nobody may trigger deletions.
            raise Forbidden("idle cleanup has no configured caller", code="not_configured")
        try:
            claims = self._verify(token, self.audience)
        except Exception:
            raise Unauthorized("invalid OIDC token", code="invalid_token") from None
        if claims.get("email") != self.service_account or claims.get("email_verified") is not True:
            raise Forbidden("this caller may not run idle cleanup", code="forbidden")
        return claims


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
