"""Cloud Function ``idle_cleanup``: called by Cloud Scheduler (OIDC) to stop idle workspaces."""

from typing import Any

import functions_framework
from werkzeug.exceptions import HTTPException


@functions_framework.http
def idle_cleanup(request: Any) -> Any:
    from shared.api.idle_cleanup import handle  # imported on first request: keeps cold start small

    return handle(request)


@functions_framework.errorhandler(HTTPException)
def framework_error(error: HTTPException) -> Any:
    from shared.web import framework_error as json_error  # the contract's shape, not HTML

    return json_error(error)
