"""Cloud Function ``billing``: /api/billing/* (Checkout and Billing Portal sessions)."""

from typing import Any

import functions_framework
from werkzeug.exceptions import HTTPException


@functions_framework.http
def billing(request: Any) -> Any:
    from shared.api.billing import handle  # imported on first request: keeps cold start small

    return handle(request)


@functions_framework.errorhandler(HTTPException)
def framework_error(error: HTTPException) -> Any:
    from shared.web import framework_error as json_error  # the contract's shape, not HTML

    return json_error(error)
