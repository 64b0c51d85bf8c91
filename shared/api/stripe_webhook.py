"""The Stripe webhook function: verify the signature on the raw body, then process once."""

from __future__ import annotations

from typing import Any

from shared.billing.records import MAX_EVENT_BYTES
from shared.errors import PayloadTooLarge
from shared.web import Reply, Router
from shared.wiring import services

router = Router("stripe_webhook")


@router.route(
    "POST",
    "/webhooks/stripe",
    summary="Signed Stripe events (verified on the raw body, applied once)",
    raw_body=True,
    headers=("Stripe-Signature",),
    responses={200: "WebhookAck"},
    errors=(400, 502, 503),
)
def stripe_webhook(request: Any) -> Reply:
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        raise PayloadTooLarge("request body is too large for a Stripe event")
    # The exact bytes Stripe signed: no JSON parsing or re-encoding before verification.
    payload = request.get_data(cache=False, as_text=False)
    result = services().billing.handle_webhook(payload, request.headers.get("Stripe-Signature"))
    return Reply(200, result.public())


def handle(request: Any) -> Any:
    return router(request)
