"""Cloud Function ``idle_cleanup``: called by Cloud Scheduler (OIDC) to stop idle workspaces."""

from typing import Any

import functions_framework


@functions_framework.http
def idle_cleanup(request: Any) -> Any:
    from shared.api.idle_cleanup import handle  # imported on first request: keeps cold start small

    return handle(request)
