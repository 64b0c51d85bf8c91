"""Cloud Function ``stripe_webhook``: /webhooks/stripe (signed Stripe events)."""

from typing import Any

import functions_framework
from werkzeug.exceptions import HTTPException


@functions_framework.http
def stripe_webhook(request: Any) -> Any:
    from shared.api.stripe_webhook import handle  # imported on first request: small cold start

    return handle(request)


@functions_framework.errorhandler(HTTPException)
def framework_error(error: HTTPException) -> Any:
    from shared.web import framework_error as json_error  # the contract's shape, not HTML

    return json_error(error)
