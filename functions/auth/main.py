"""Cloud Function ``auth``: /api/auth/* and /.well-known/jwks.json."""

from typing import Any

import functions_framework


@functions_framework.http
def auth(request: Any) -> Any:
    from shared.api.auth import handle  # imported on first request: keeps cold start small

    return handle(request)
