"""Cloud Function ``billing``: /api/billing/* (Checkout and Billing Portal sessions)."""

from typing import Any

import functions_framework


@functions_framework.http
def billing(request: Any) -> Any:
    from shared.api.billing import handle  # imported on first request: keeps cold start small

    return handle(request)
