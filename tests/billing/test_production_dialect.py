"""The production dialect (current Stripe API) that localstripe cannot speak, on an HTTP fake:
price items, ``default_incomplete`` without a card, the invoice's ``confirmation_secret``."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from shared.billing.gateway import StripeClientGateway
from shared.billing.settings import BillingSettings


def form(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}


def test_subscription_without_card_uses_default_incomplete_and_confirmation_secret(httpserver):
    httpserver.expect_request("/v1/subscriptions", method="POST").respond_with_json(
        {
            "id": "sub_9",
            "object": "subscription",
            "status": "incomplete",
            "latest_invoice": {
                "id": "in_9",
                "object": "invoice",
                "confirmation_secret": {"client_secret": "pi_9_secret_x", "type": "payment_intent"},
            },
        }
    )
    httpserver.expect_request("/v1/invoice_payments", method="GET").respond_with_json(
        {
            "object": "list",
            "data": [{"object": "invoice_payment", "payment": {"payment_intent": "pi_9"}}],
        }
    )
    httpserver.expect_request("/v1/payment_intents/pi_9", method="GET").respond_with_json(
        {"id": "pi_9", "object": "payment_intent", "status": "requires_payment_method"}
    )
    settings = BillingSettings(
        api_base=httpserver.url_for("").rstrip("/"), prices={"pro": ("price_pro",)}
    )
    gateway = StripeClientGateway(lambda: "sk_test_dialect", settings)
    started = gateway.create_subscription(
        customer_id="cus_1",
        price_id="price_pro",
        metadata={"plan": "pro"},
        has_payment_method=False,
        idempotency_key="k-1",
    )
    assert started == {
        "id": "sub_9",
        "status": "incomplete",
        "client_secret": "pi_9_secret_x",
        "payment_status": "requires_payment_method",
        "error_code": None,
        "error_message": None,
    }
    sent, _ = httpserver.log[0]
    params = form(sent)
    assert params["items[0][price]"] == "price_pro"
    assert params["payment_behavior"] == "default_incomplete"
    assert params["payment_settings[save_default_payment_method]"] == "on_subscription"
    assert params["expand[0]"] == "latest_invoice.confirmation_secret"
    assert sent.headers["Idempotency-Key"] == "k-1"
    assert form(httpserver.log[1][0]) == {} and "invoice=in_9" in httpserver.log[1][0].url


def test_subscription_with_card_is_charged_at_once(httpserver):
    httpserver.expect_request("/v1/subscriptions", method="POST").respond_with_json(
        {"id": "sub_1", "object": "subscription", "status": "active", "latest_invoice": None}
    )
    settings = BillingSettings(api_base=httpserver.url_for("").rstrip("/"))
    gateway = StripeClientGateway(lambda: "sk_test_dialect", settings)
    started = gateway.create_subscription(
        customer_id="cus_1",
        price_id="price_s",
        metadata={},
        has_payment_method=True,
        idempotency_key="k-2",
    )
    assert started["status"] == "active"
    assert form(httpserver.log[0][0])["payment_behavior"] == "allow_incomplete"
    assert len(httpserver.log) == 1  # active: no extra calls


def test_current_api_subscription_shape_maps_to_its_plan():
    from shared.billing.gateway import normalize_subscription

    sub = {
        "id": "sub_1",
        "customer": {"id": "cus_1"},
        "status": "active",
        "items": {"data": [{"price": {"id": "price_pro"}, "current_period_end": 1900000000}]},
        "metadata": {},
    }
    normal = normalize_subscription(sub)
    assert (normal["customer"], normal["price_id"], normal["current_period_end"]) == (
        "cus_1",
        "price_pro",
        1900000000,
    )
    settings = BillingSettings(prices={"pro": ("price_pro", "price_pro_2024")})
    assert settings.plan_for_price("price_pro_2024") == "pro"
    assert settings.price_for("pro") == "price_pro"


def test_customer_and_card_calls_carry_idempotency_keys(httpserver):
    httpserver.expect_request("/v1/customers", method="POST").respond_with_json(
        {"id": "cus_7", "object": "customer"}
    )
    httpserver.expect_request("/v1/payment_methods/pm_1/attach", method="POST").respond_with_json(
        {"id": "pm_1", "object": "payment_method", "customer": "cus_7"}
    )
    httpserver.expect_request("/v1/customers/cus_7", method="POST").respond_with_json(
        {"id": "cus_7", "object": "customer"}
    )
    settings = BillingSettings(api_base=httpserver.url_for("").rstrip("/"), network_retries=0)
    gateway = StripeClientGateway(lambda: "sk_test_dialect", settings)
    gateway.create_customer(
        email="a@example.com",
        name=None,
        metadata={"tenant_id": "t1", "user_id": "u1"},
        idempotency_key="coditect-customer-t1",
    )
    gateway.set_default_payment_method("cus_7", "pm_1", idempotency_key="coditect-pm-u1")
    (customer, _), (attach, _), (update, _) = httpserver.log
    assert customer.headers["Idempotency-Key"] == "coditect-customer-t1"
    assert form(customer) == {
        "email": "a@example.com",
        "metadata[tenant_id]": "t1",
        "metadata[user_id]": "u1",
    }
    assert attach.headers["Idempotency-Key"] == "coditect-pm-u1:attach"
    assert form(attach) == {"customer": "cus_7"}
    assert update.headers["Idempotency-Key"] == "coditect-pm-u1:default"
    assert form(update) == {"invoice_settings[default_payment_method]": "pm_1"}


def test_grace_period_is_configurable_in_days():
    assert BillingSettings.from_env({}).grace_seconds == 7 * 24 * 3600
    assert BillingSettings.from_env({"CODITECT_BILLING_GRACE_DAYS": "3"}).grace_seconds == 3 * 86400
    assert BillingSettings.from_env({"CODITECT_BILLING_GRACE_DAYS": "0.5"}).grace_seconds == 43200
    with pytest.raises(ValueError, match="GRACE_DAYS"):
        BillingSettings.from_env({"CODITECT_BILLING_GRACE_DAYS": "-1"})
