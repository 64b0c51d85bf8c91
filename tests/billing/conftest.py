"""Billing fixtures: a real localstripe (session-wide), signed webhooks, and a Checkout/Portal fake.

The billing service talks to localstripe through the real ``stripe`` SDK over HTTP. Checkout and
Billing Portal sessions, which localstripe lacks, go to a pytest-httpserver answering as Stripe.
Webhooks are signed with Stripe's own ``generate_signature_header``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from devstack.billing import LocalStripe, seed_plans
from shared.billing.settings import BillingSettings
from shared.billing.wiring import build_billing_service
from shared.secret_names import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET

API_KEY = "sk_test_billing_tests_0123456789"
WEBHOOK_SECRET = "whsec_billing_tests_0123456789"
YEARLY_STARTER = "coditect-starter-yearly"  # a second starter price: a renewal we can fail


@dataclass
class Stripe:
    url: str
    client: Any
    prices: dict[str, tuple[str, ...]]


@pytest.fixture(scope="session")
def localstripe() -> Iterator[Stripe]:
    server = LocalStripe()  # memory only, on a free loopback port
    try:
        client = stripe.StripeClient(
            API_KEY, base_addresses={"api": server.url}, max_network_retries=0
        )
        prices = seed_plans(client)
        product = client.v1.products.create(params={"name": "Starter yearly"})
        client.v1.plans.create(
            params={
                "id": YEARLY_STARTER,
                "product": product.id,
                "amount": 29000,
                "currency": "usd",
                "interval": "year",
            }
        )
        prices["starter"] = (*prices["starter"], YEARLY_STARTER)
        yield Stripe(server.url, client, prices)
    finally:
        server.stop()


@pytest.fixture
def billing_settings(localstripe: Stripe, httpserver: Any) -> BillingSettings:
    return BillingSettings(
        api_base=localstripe.url,
        sessions_api_base=httpserver.url_for("").rstrip("/"),
        flavor="localstripe",
        prices=localstripe.prices,
        network_retries=0,
    )


@pytest.fixture
def billing(services: Any, billing_settings: BillingSettings) -> Any:
    """The process's billing service on localstripe, with the real workspaces hooks."""
    services.secrets.add_version(STRIPE_API_KEY, API_KEY.encode())
    services.secrets.add_version(STRIPE_WEBHOOK_SECRET, WEBHOOK_SECRET.encode())
    service = build_billing_service(services, billing_settings)
    services.use(billing=service)
    return service


def make_event(
    kind: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + uuid.uuid4().hex[:20],
        "object": "event",
        "type": kind,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }


def post_event(
    api: Any,
    event: dict[str, Any] | str,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signed_body: str | None = None,
    header: str | None = "sign",
) -> Any:
    """POST a webhook signed as Stripe signs it (``signed_body`` signs other bytes: tampering)."""
    payload = event if isinstance(event, str) else json.dumps(event)
    headers = {"Content-Type": "application/json"}
    if header == "sign":
        headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
            signed_body if signed_body is not None else payload, secret, timestamp
        )
    elif header is not None:
        headers["Stripe-Signature"] = header
    return api.post("/webhooks/stripe", data=payload.encode(), headers=headers)


def subscription_event(kind: str, sub: Any, **kwargs: Any) -> dict[str, Any]:
    return make_event(kind, sub.to_dict() if hasattr(sub, "to_dict") else sub, **kwargs)
