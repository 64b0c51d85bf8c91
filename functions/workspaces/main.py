"""Cloud Function ``workspaces``: /api/workspaces/*."""

from typing import Any

import functions_framework


@functions_framework.http
def workspaces(request: Any) -> Any:
    from shared.api.workspaces import handle  # imported on first request: keeps cold start small

    return handle(request)
