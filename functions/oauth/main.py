"""Cloud Function ``oauth``: /api/auth/oauth/* (sign in with Google and GitHub)."""

from typing import Any

import functions_framework


@functions_framework.http
def oauth(request: Any) -> Any:
    from shared.api.oauth import handle  # imported on first request: keeps cold start small

    return handle(request)
