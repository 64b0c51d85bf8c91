"""Cloud Function ``stripe_webhook``: /webhooks/stripe (signed Stripe events)."""

from typing import Any

import functions_framework


@functions_framework.http
def stripe_webhook(request: Any) -> Any:
    from shared.api.stripe_webhook import handle  # imported on first request: small cold start

    return handle(request)
